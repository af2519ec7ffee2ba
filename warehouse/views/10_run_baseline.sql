-- The baseline of each evaluation run: the last completed run of the same dataset and model that started
-- before it and read the same data: the same examples or question set, and the same documents of the
-- collection it retrieves from (`config.data_fingerprint`; runs stored before it was recorded match any). The
-- one definition of "previous run", read by the regression check and regression_vs_baseline.
CREATE OR REPLACE VIEW run_baseline AS
SELECT r.run_id, arg_max(b.run_id, b.started_at) AS baseline_run_id
FROM eval_runs r
JOIN eval_runs b ON b.dataset = r.dataset AND b.model = r.model AND b.started_at < r.started_at
WHERE b.status IN ('completed', 'completed_with_errors')
  AND coalesce((b.config->>'data_fingerprint') = (r.config->>'data_fingerprint'), true)
GROUP BY r.run_id;

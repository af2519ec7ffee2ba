-- Each completed run against the previous completed run of the same dataset and model: score and cost
-- deltas per method and k.
CREATE OR REPLACE VIEW regression_vs_baseline AS
WITH runs AS (
    SELECT run_id, dataset, model, started_at,
           lag(run_id) OVER (PARTITION BY dataset, model ORDER BY started_at) AS baseline_run_id
    FROM eval_runs WHERE status IN ('completed', 'completed_with_errors')
)
SELECT r.run_id, r.baseline_run_id, r.dataset, r.model, cur.method, cur.k,
       cur.score, base.score AS baseline_score, round(cur.score - base.score, 2) AS score_delta,
       cur.cost_usd, base.cost_usd AS baseline_cost_usd, cur.cost_usd - base.cost_usd AS cost_delta_usd
FROM runs r
JOIN method_summary cur ON cur.run_id = r.run_id
LEFT JOIN method_summary base ON base.run_id = r.baseline_run_id AND base.method = cur.method AND base.k = cur.k
WHERE r.baseline_run_id IS NOT NULL;

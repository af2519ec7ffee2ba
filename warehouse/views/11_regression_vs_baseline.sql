-- Each completed run against its baseline (run_baseline): score and cost deltas per method and k.
CREATE OR REPLACE VIEW regression_vs_baseline AS
SELECT r.run_id, b.baseline_run_id, r.dataset, r.model, cur.method, cur.k,
       cur.score, base.score AS baseline_score, round(cur.score - base.score, 2) AS score_delta,
       cur.cost_usd, base.cost_usd AS baseline_cost_usd, cur.cost_usd - base.cost_usd AS cost_delta_usd
FROM eval_runs r
JOIN run_baseline b USING (run_id)
JOIN method_summary cur ON cur.run_id = r.run_id
LEFT JOIN method_summary base ON base.run_id = b.baseline_run_id AND base.method = cur.method AND base.k = cur.k
WHERE r.status IN ('completed', 'completed_with_errors');

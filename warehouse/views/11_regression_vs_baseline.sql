-- Each completed run against its baseline (run_baseline): score and list cost deltas per method and k (list
-- cost: the same answers cost the same whether or not they came from the cache), and, once the regression check
-- ran, its paired test of the score difference (examples both runs scored, the confidence interval in points,
-- McNemar's p-value for 0/1 scores) and its verdict.
CREATE OR REPLACE VIEW regression_vs_baseline AS
SELECT r.run_id, b.baseline_run_id, r.dataset, r.model, cur.method, cur.k,
       cur.score, base.score AS baseline_score, round(cur.score - base.score, 2) AS score_delta,
       c.n_paired, c.ci_low, c.ci_high, c.p_value, c.passed, c.reason,
       cur.list_cost_usd, base.list_cost_usd AS baseline_list_cost_usd,
       cur.list_cost_usd - base.list_cost_usd AS list_cost_delta_usd
FROM eval_runs r
JOIN run_baseline b USING (run_id)
JOIN method_summary cur ON cur.run_id = r.run_id
LEFT JOIN method_summary base ON base.run_id = b.baseline_run_id AND base.method = cur.method AND base.k = cur.k
LEFT JOIN regression_checks c
       ON c.run_id = r.run_id AND c.baseline_run_id = b.baseline_run_id AND c.method = cur.method AND c.k = cur.k
WHERE r.status IN ('completed', 'completed_with_errors');

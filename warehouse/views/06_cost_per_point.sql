-- Dollars (and tokens) per score point, per run, dataset, method and k.
CREATE OR REPLACE VIEW cost_per_point AS
SELECT run_id, dataset, model, method, k, score, cost_usd,
       cost_usd / nullif(score, 0) AS usd_per_point,
       (prompt_tokens + completion_tokens) / nullif(score, 0) AS tokens_per_point
FROM method_summary;

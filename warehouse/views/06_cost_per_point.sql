-- Dollars (list and spent, see method_summary) and tokens per score point, per run, dataset, method and k.
CREATE OR REPLACE VIEW cost_per_point AS
SELECT run_id, dataset, model, method, k, score, list_cost_usd, spent_cost_usd,
       list_cost_usd / nullif(score, 0) AS list_usd_per_point,
       spent_cost_usd / nullif(score, 0) AS spent_usd_per_point,
       (prompt_tokens + completion_tokens) / nullif(score, 0) AS tokens_per_point
FROM method_summary;

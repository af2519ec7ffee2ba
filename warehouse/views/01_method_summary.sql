-- Per run, dataset, method and k: score (LongBench's round(100·mean, 2)), n, tokens, dollars (the cost stored
-- with each prediction, priced when it was answered) and token % of LC (prompt tokens against the lc method's on the same run and dataset).
CREATE OR REPLACE VIEW method_summary AS
WITH lc AS (
    SELECT run_id, dataset, sum(prompt_tokens) AS lc_prompt_tokens
    FROM predictions WHERE method = 'lc' AND error IS NULL
    GROUP BY ALL
)
SELECT p.run_id, r.started_at, p.dataset, p.model, p.method, p.k,
       count(*) AS n,
       round(100 * avg(s.score), 2) AS score,
       sum(p.prompt_tokens) AS prompt_tokens,
       sum(p.completion_tokens) AS completion_tokens,
       sum(p.cost_usd) AS cost_usd,
       round(100.0 * sum(p.prompt_tokens) / nullif(any_value(lc.lc_prompt_tokens), 0), 2) AS token_pct_of_lc,
       round(100 * avg(CASE WHEN p.route = 'rag' THEN 1 ELSE 0 END) FILTER (WHERE p.method = 'self_route'), 2)
           AS answerable_pct,
       count(*) FILTER (WHERE p.cached) AS cached,
       bool_or(p.tokens_estimated) AS tokens_estimated
FROM predictions p
JOIN scores s USING (run_id, example_id, method, k)
JOIN eval_runs r USING (run_id)
LEFT JOIN lc ON lc.run_id = p.run_id AND lc.dataset = p.dataset
WHERE p.error IS NULL
GROUP BY ALL;

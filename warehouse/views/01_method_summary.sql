-- Per run, dataset, method and k, over every example the method was asked: a failed prediction keeps its
-- error and scores as LongBench scores an empty answer, so every method is scored on the same examples
-- (`failed` counts them). Score (LongBench's round(100·mean, 2)), n, tokens, two costs: `list_cost_usd` (the
-- answers at the price table when they were answered; failed ones have none) and `spent_cost_usd` (what the
-- calls were billed: answers from ragroute's cache cost 0, paid-for failed attempts count, provider-cached input
-- tokens at the cached-input price; NULL for runs stored before it was recorded). Token % of LC compares the
-- same examples: the method's prompt tokens against the `lc` method's, both summed over the examples of the
-- run and dataset where `lc` answered with tokens recorded (the method's own failed attempts count with the
-- tokens they used).
CREATE OR REPLACE VIEW method_summary AS
WITH lc AS (
    SELECT run_id, dataset, example_id, prompt_tokens AS lc_prompt_tokens
    FROM predictions WHERE method = 'lc' AND error IS NULL AND prompt_tokens > 0
)
SELECT p.run_id, r.started_at, p.dataset, p.model, p.method, p.k,
       count(*) AS n,
       count(*) FILTER (WHERE p.error IS NOT NULL) AS failed,
       round(100 * avg(s.score), 2) AS score,
       sum(p.prompt_tokens) AS prompt_tokens,
       sum(p.completion_tokens) AS completion_tokens,
       sum(p.cached_prompt_tokens) AS cached_prompt_tokens,
       sum(p.cost_usd) AS list_cost_usd,
       sum(p.spent_cost_usd) AS spent_cost_usd,
       round(100.0 * sum(p.prompt_tokens) FILTER (WHERE lc.lc_prompt_tokens IS NOT NULL)
             / nullif(sum(lc.lc_prompt_tokens), 0), 2) AS token_pct_of_lc,
       round(100 * avg(CASE WHEN p.route = 'rag' THEN 1 ELSE 0 END)
             FILTER (WHERE p.method = 'self_route' AND p.error IS NULL), 2) AS answerable_pct,
       count(*) FILTER (WHERE p.cached) AS cached,
       bool_or(p.tokens_estimated) AS tokens_estimated
FROM predictions p
JOIN scores s USING (run_id, example_id, method, k)
JOIN eval_runs r USING (run_id)
LEFT JOIN lc ON lc.run_id = p.run_id AND lc.dataset = p.dataset AND lc.example_id = p.example_id
GROUP BY ALL;

-- Where logprobs exist: Self-Route with a decline threshold τ routes to LC when the RAG step declines in words
-- or P("unanswerable") ≥ τ, for τ in 0.01…0.04 and 0.05…0.95. Score and token % of LC of that router (and LC's
-- own score on the same examples), replayed from Self-Route's own first step (its tokens and score) and the LC
-- answers of `self_route_steps` (no new LLM call; only examples where both are known, see that view).
CREATE OR REPLACE VIEW routing_frontier AS
WITH steps AS (SELECT * FROM self_route_steps WHERE decline_prob IS NOT NULL AND lc_score IS NOT NULL),
thresholds AS (SELECT unnest(list_concat([1, 2, 3, 4], range(5, 100, 5))) / 100.0 AS threshold),
routed AS (
    SELECT steps.*, threshold, text_declined OR decline_prob >= threshold AS to_lc FROM steps, thresholds
)
SELECT run_id, dataset, model, k, threshold,
       count(*) AS n,
       round(100 * avg(CASE WHEN to_lc THEN lc_score ELSE rag_score END), 2) AS score,
       round(100.0 * sum(rag_tokens + CASE WHEN to_lc THEN lc_tokens ELSE 0 END)
             / nullif(sum(lc_tokens), 0), 2) AS token_pct_of_lc,
       round(100 * avg(CASE WHEN to_lc THEN 0 ELSE 1 END), 2) AS answerable_pct,
       round(100 * avg(lc_score), 2) AS lc_score
FROM routed
GROUP BY ALL;

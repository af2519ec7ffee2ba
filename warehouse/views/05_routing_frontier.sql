-- Where logprobs exist: Self-Route with a decline threshold τ routes to LC when the RAG step declines in words
-- or P("unanswerable") ≥ τ, for τ in 0.01…0.04 and 0.05…0.95. Score and token % of LC of that router (and LC's
-- own score on the same examples), from the stored RAG-step and LC answers (no new LLM call).
CREATE OR REPLACE VIEW routing_frontier AS
WITH steps AS (
    SELECT sr.run_id, sr.dataset, sr.model, sr.k, sr.example_id, sr.decline_prob,
           coalesce(sr.step1_declined, sr.route = 'lc', false) AS text_declined,
           rag.prompt_tokens AS rag_tokens, rs.score AS rag_score,
           lc.prompt_tokens AS lc_tokens, ls.score AS lc_score
    FROM predictions sr
    JOIN predictions rag ON rag.run_id = sr.run_id AND rag.example_id = sr.example_id
         AND rag.method = 'rag' AND rag.k = sr.k AND rag.error IS NULL
    JOIN scores rs ON rs.run_id = rag.run_id AND rs.example_id = rag.example_id AND rs.method = 'rag' AND rs.k = rag.k
    JOIN predictions lc ON lc.run_id = sr.run_id AND lc.example_id = sr.example_id AND lc.method = 'lc'
         AND lc.error IS NULL
    JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc'
    WHERE sr.method = 'self_route' AND sr.decline_prob IS NOT NULL
),
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

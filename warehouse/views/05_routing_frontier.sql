-- Where logprobs exist: route to LC when P("unanswerable") ≥ threshold, for thresholds 0.05…0.95.
-- Score and token % of LC of that router, from the stored RAG-step and LC answers (no new LLM call).
CREATE OR REPLACE VIEW routing_frontier AS
WITH steps AS (
    SELECT sr.run_id, sr.dataset, sr.model, sr.k, sr.example_id, sr.decline_prob,
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
thresholds AS (SELECT unnest(range(5, 100, 5)) / 100.0 AS threshold)
SELECT run_id, dataset, model, k, threshold,
       count(*) AS n,
       round(100 * avg(CASE WHEN decline_prob >= threshold THEN lc_score ELSE rag_score END), 2) AS score,
       round(100.0 * sum(rag_tokens + CASE WHEN decline_prob >= threshold THEN lc_tokens ELSE 0 END)
             / nullif(sum(lc_tokens), 0), 2) AS token_pct_of_lc,
       round(100 * avg(CASE WHEN decline_prob >= threshold THEN 0 ELSE 1 END), 2) AS answerable_pct
FROM steps, thresholds
GROUP BY ALL;

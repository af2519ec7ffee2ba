-- Oracle routing, the ceiling of any router between RAG and LC: per run and k, each question sent to the arm
-- that answered it better (RAG on ties, the cheaper arm), over the examples both `rag` at k and `lc` answered (a
-- failed answer scores as an empty one). Its score, token % of LC (the chosen arm's prompt tokens against
-- LC's) and share of questions left to RAG; beside it RAG's, LC's and Self-Route's scores at the same k, and
-- Self-Route's gap to the oracle.
CREATE OR REPLACE VIEW oracle_routing AS
WITH arms AS (
    SELECT rag.run_id, rag.dataset, rag.model, rag.k, rag.example_id,
           rs.score AS rag_score, ls.score AS lc_score, rs.score >= ls.score AS to_rag,
           rag.prompt_tokens AS rag_tokens, lc.prompt_tokens AS lc_tokens
    FROM predictions rag
    JOIN scores rs ON rs.run_id = rag.run_id AND rs.example_id = rag.example_id AND rs.method = rag.method
                  AND rs.k = rag.k
    JOIN predictions lc ON lc.run_id = rag.run_id AND lc.example_id = rag.example_id AND lc.method = 'lc'
    JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc' AND ls.k = lc.k
    WHERE rag.method = 'rag'
), oracle AS (
    SELECT run_id, dataset, model, k,
           count(*) AS n,
           round(100 * avg(CASE WHEN to_rag THEN rag_score ELSE lc_score END), 2) AS oracle_score,
           round(100.0 * sum(CASE WHEN to_rag THEN rag_tokens ELSE lc_tokens END)
                 / nullif(sum(lc_tokens), 0), 2) AS oracle_token_pct_of_lc,
           round(100 * avg(CASE WHEN to_rag THEN 1 ELSE 0 END), 2) AS oracle_rag_pct,
           round(100 * avg(rag_score), 2) AS rag_score,
           round(100 * avg(lc_score), 2) AS lc_score
    FROM arms
    GROUP BY ALL
)
SELECT o.*, s.score AS self_route_score, s.token_pct_of_lc AS self_route_token_pct_of_lc,
       round(s.score - o.oracle_score, 2) AS self_route_gap
FROM oracle o
LEFT JOIN method_summary s ON s.run_id = o.run_id AND s.dataset = o.dataset AND s.method = 'self_route'
                          AND s.k = o.k;

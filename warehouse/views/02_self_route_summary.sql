-- The Self-Route paper's Table 1 columns, per run, dataset and k: answerable % (answered in the RAG step),
-- token % of LC, and the score delta against LC and against RAG on the same examples. Every prediction counts
-- (a failed one scores as an empty answer); token % of LC is over the examples where LC answered.
CREATE OR REPLACE VIEW self_route_summary AS
WITH sr AS (
    SELECT p.run_id, p.dataset, p.model, p.k, p.example_id, p.route, p.error, p.prompt_tokens, s.score
    FROM predictions p JOIN scores s USING (run_id, example_id, method, k)
    WHERE p.method = 'self_route'
),
lc AS (
    SELECT p.run_id, p.example_id, p.prompt_tokens, p.error IS NULL AND p.prompt_tokens > 0 AS answered, s.score
    FROM predictions p JOIN scores s USING (run_id, example_id, method, k)
    WHERE p.method = 'lc'
),
rag AS (
    SELECT p.run_id, p.example_id, p.k, s.score
    FROM predictions p JOIN scores s USING (run_id, example_id, method, k)
    WHERE p.method = 'rag'
)
SELECT sr.run_id, sr.dataset, sr.model, sr.k,
       count(*) AS n,
       round(100 * avg(CASE WHEN sr.route = 'rag' THEN 1 ELSE 0 END) FILTER (WHERE sr.error IS NULL), 2)
           AS answerable_pct,
       round(100.0 * sum(sr.prompt_tokens) FILTER (WHERE lc.answered)
             / nullif(sum(lc.prompt_tokens) FILTER (WHERE lc.answered), 0), 2) AS token_pct_of_lc,
       round(100 * avg(sr.score), 2) AS self_route_score,
       round(100 * avg(lc.score), 2) AS lc_score,
       round(100 * avg(rag.score), 2) AS rag_score,
       round(100 * (avg(sr.score) - avg(lc.score)), 2) AS delta_vs_lc,
       round(100 * (avg(sr.score) - avg(rag.score)), 2) AS delta_vs_rag
FROM sr
LEFT JOIN lc USING (run_id, example_id)
LEFT JOIN rag ON rag.run_id = sr.run_id AND rag.example_id = sr.example_id AND rag.k = sr.k
GROUP BY ALL;

-- The paper's Figure 2: per example, RAG's and LC's predictions and S_RAG − S_LC (scores ×100).
-- Aggregate it for the share of identical predictions and the distribution of the difference.
CREATE OR REPLACE VIEW rag_lc_agreement AS
SELECT rag.run_id, rag.dataset, rag.model, rag.k, rag.example_id,
       rag.prediction AS rag_prediction,
       lc.prediction AS lc_prediction,
       trim(rag.prediction) = trim(lc.prediction) AS identical,
       round(100 * (rs.score - ls.score), 2) AS score_diff
FROM predictions rag
JOIN scores rs ON rs.run_id = rag.run_id AND rs.example_id = rag.example_id AND rs.method = 'rag' AND rs.k = rag.k
JOIN predictions lc ON lc.run_id = rag.run_id AND lc.example_id = rag.example_id AND lc.method = 'lc'
JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc'
WHERE rag.method = 'rag' AND rag.error IS NULL AND lc.error IS NULL;

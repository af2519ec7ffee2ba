-- A learned router's training data: per run, example and k, the features known before any answer
-- (`route_features`) with RAG's and LC's scores, where both answered without error, and the label: LC scored
-- better than RAG (`needs_lc`; a tie leaves the question to RAG, the cheaper arm).
CREATE OR REPLACE VIEW router_outcomes AS
SELECT f.*, r.model, r.dataset, r.started_at,
       rs.score AS rag_score, ls.score AS lc_score, ls.score > rs.score AS needs_lc
FROM route_features f
JOIN eval_runs r USING (run_id)
JOIN predictions rag ON rag.run_id = f.run_id AND rag.example_id = f.example_id AND rag.method = 'rag'
                    AND rag.k = f.k AND rag.error IS NULL
JOIN scores rs ON rs.run_id = rag.run_id AND rs.example_id = rag.example_id AND rs.method = 'rag' AND rs.k = rag.k
JOIN predictions lc ON lc.run_id = f.run_id AND lc.example_id = f.example_id AND lc.method = 'lc'
                   AND lc.error IS NULL
JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc' AND ls.k = lc.k
WHERE r.status IN ('completed', 'completed_with_errors');

-- Self-Route's examples with the answers its routing needs, from the stored predictions: the RAG step's
-- decline (in words, and P("unanswerable")), and the rag and lc answers' tokens and scores on the same
-- example. `routing_frontier` and `routing_rules` replay routing rules over it (no new LLM call).
CREATE OR REPLACE VIEW self_route_steps AS
SELECT sr.run_id, sr.dataset, sr.model, sr.k, sr.example_id, sr.decline_prob,
       coalesce(sr.step1_declined, sr.route = 'lc', false) AS text_declined,
       sr.error IS NULL AS answered,
       rag.prompt_tokens AS rag_tokens, rs.score AS rag_score,
       lc.prompt_tokens AS lc_tokens, ls.score AS lc_score
FROM predictions sr
JOIN predictions rag ON rag.run_id = sr.run_id AND rag.example_id = sr.example_id
     AND rag.method = 'rag' AND rag.k = sr.k AND rag.error IS NULL
JOIN scores rs ON rs.run_id = rag.run_id AND rs.example_id = rag.example_id AND rs.method = 'rag' AND rs.k = rag.k
JOIN predictions lc ON lc.run_id = sr.run_id AND lc.example_id = sr.example_id AND lc.method = 'lc'
     AND lc.error IS NULL
JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc'
WHERE sr.method = 'self_route';

-- Self-Route's examples with what its routing replay needs, from Self-Route's own stored steps: the first
-- (RAG-and-route) step's decline (in words, and P("unanswerable")), its own prompt tokens and its answer's
-- score (`step1_*` on the self_route prediction; never the `rag` method's, whose prompt differs); and LC's
-- prompt tokens and score on the same example: from the run's answered `lc` prediction when there is one
-- (`lc_source` 'lc'), else from Self-Route's own LC step for a question it routed there ('self_route': its
-- prompt tokens less the first step's, its final score). Where neither exists (no answered `lc` prediction,
-- and Self-Route kept the question at its first step or its LC step failed), lc_tokens, lc_score and
-- lc_source are NULL: `routing_frontier` and `routing_rules` replay only examples with both steps known, so
-- without an `lc` method they cover the questions Self-Route routed to LC. A first step that failed, or a
-- run stored before the first step's tokens were, has no row. No new LLM call.
CREATE OR REPLACE VIEW self_route_steps AS
SELECT sr.run_id, sr.dataset, sr.model, sr.k, sr.example_id, sr.decline_prob,
       coalesce(sr.step1_declined, sr.route = 'lc', false) AS text_declined,
       sr.error IS NULL AS answered,
       sr.step1_prompt_tokens AS rag_tokens, sr.step1_score AS rag_score,
       CASE WHEN lc.example_id IS NOT NULL THEN lc.prompt_tokens
            WHEN sr.route = 'lc' THEN sr.prompt_tokens - sr.step1_prompt_tokens END AS lc_tokens,
       CASE WHEN lc.example_id IS NOT NULL THEN ls.score WHEN sr.route = 'lc' THEN ss.score END AS lc_score,
       CASE WHEN lc.example_id IS NOT NULL THEN 'lc' WHEN sr.route = 'lc' THEN 'self_route' END AS lc_source
FROM predictions sr
JOIN scores ss USING (run_id, example_id, method, k)
LEFT JOIN predictions lc ON lc.run_id = sr.run_id AND lc.example_id = sr.example_id AND lc.method = 'lc'
     AND lc.error IS NULL
LEFT JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc' AND ls.k = lc.k
WHERE sr.method = 'self_route' AND sr.step1_score IS NOT NULL;

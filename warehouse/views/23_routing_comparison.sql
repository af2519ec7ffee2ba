-- The routers of one run side by side, per k where `rag` and `lc` both ran: the oracle (each question to the
-- arm that answered it better), Self-Route, the learned router and LC: score, token % of LC, the answer steps
-- sent to the model (Self-Route's declined questions take two: the RAG step and LC), the questions sent straight
-- to LC without a RAG step, and how often the router chose the oracle's arm.
CREATE OR REPLACE VIEW routing_comparison AS
WITH best AS (
    SELECT rag.run_id, rag.example_id, rag.k, CASE WHEN rs.score >= ls.score THEN 'rag' ELSE 'lc' END AS best_route
    FROM predictions rag
    JOIN scores rs ON rs.run_id = rag.run_id AND rs.example_id = rag.example_id AND rs.method = 'rag'
                  AND rs.k = rag.k
    JOIN predictions lc ON lc.run_id = rag.run_id AND lc.example_id = rag.example_id AND lc.method = 'lc'
    JOIN scores ls ON ls.run_id = lc.run_id AND ls.example_id = lc.example_id AND ls.method = 'lc' AND ls.k = lc.k
    WHERE rag.method = 'rag'
), routed AS (
    SELECT p.run_id, p.method AS router, p.k,
           sum(CASE WHEN p.route = 'lc' AND p.step1_prediction IS NOT NULL THEN 2 ELSE 1 END) AS llm_calls,
           count(*) FILTER (WHERE p.route = 'lc' AND p.step1_prediction IS NULL AND p.error IS NULL)
               AS straight_to_lc,
           round(100 * avg(CASE WHEN p.route = b.best_route THEN 1 ELSE 0 END)
                 FILTER (WHERE b.best_route IS NOT NULL), 2) AS routed_correctly_pct
    FROM predictions p
    LEFT JOIN best b ON b.run_id = p.run_id AND b.example_id = p.example_id AND b.k = p.k
    WHERE p.method IN ('self_route', 'learned_route')
    GROUP BY ALL
)
SELECT o.run_id, o.dataset, o.model, o.k, 1 AS position, 'oracle' AS router, o.n, o.oracle_score AS score,
       o.oracle_token_pct_of_lc AS token_pct_of_lc, o.n AS llm_calls, 0 AS straight_to_lc,
       100.0 AS routed_correctly_pct
FROM oracle_routing o
UNION ALL
SELECT o.run_id, o.dataset, o.model, o.k, CASE r.router WHEN 'self_route' THEN 2 ELSE 3 END, r.router, s.n,
       s.score, s.token_pct_of_lc, r.llm_calls, r.straight_to_lc, r.routed_correctly_pct
FROM oracle_routing o
JOIN routed r ON r.run_id = o.run_id AND r.k = o.k
JOIN method_summary s ON s.run_id = r.run_id AND s.dataset = o.dataset AND s.method = r.router AND s.k = r.k
UNION ALL
SELECT o.run_id, o.dataset, o.model, o.k, 4, 'lc', s.n, s.score, s.token_pct_of_lc, s.n, s.n, NULL
FROM oracle_routing o
JOIN method_summary s ON s.run_id = o.run_id AND s.dataset = o.dataset AND s.method = 'lc';

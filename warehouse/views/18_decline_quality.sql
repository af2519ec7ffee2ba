-- Self-Route's first step as a detector of questions the documents do not answer, per run and k, over the
-- answered examples whose kind is known: it declined (sent the question on to LC, in words or by τ) on
-- `declined` of them. Precision: the share of its declines that were unanswerable questions; recall: the share
-- of the unanswerable questions it declined.
CREATE OR REPLACE VIEW decline_quality AS
WITH steps AS (
    SELECT p.run_id, p.dataset, p.model, p.k, e.kind = 'unanswerable' AS unanswerable, p.route = 'lc' AS declined
    FROM predictions p
    JOIN examples e ON e.dataset = p.dataset AND e.example_id = p.example_id
    WHERE p.method = 'self_route' AND p.error IS NULL AND e.kind IS NOT NULL
)
SELECT run_id, dataset, model, k,
       count(*) AS n,
       count(*) FILTER (WHERE unanswerable) AS unanswerable,
       count(*) FILTER (WHERE declined) AS declined,
       count(*) FILTER (WHERE declined AND unanswerable) AS declined_unanswerable,
       round(100.0 * count(*) FILTER (WHERE declined AND unanswerable)
             / nullif(count(*) FILTER (WHERE declined), 0), 2) AS decline_precision,
       round(100.0 * count(*) FILTER (WHERE declined AND unanswerable)
             / nullif(count(*) FILTER (WHERE unanswerable), 0), 2) AS decline_recall
FROM steps
GROUP BY ALL;

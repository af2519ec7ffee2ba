-- Recall@k of the gold evidence where the data set knows it (e.g. mini's planted facts): an example counts
-- when any of its top-k chunks holds an evidence sentence; mean rank of the first such chunk.
CREATE OR REPLACE VIEW retrieval_diagnostics AS
WITH per_example AS (
    SELECT run_id, example_id, k, retriever,
           bool_or(has_evidence) AS hit,
           min(rank) FILTER (WHERE has_evidence) AS first_evidence_rank,
           avg(score) AS mean_score
    FROM retrievals WHERE has_evidence IS NOT NULL
    GROUP BY ALL
)
SELECT e.run_id, p.dataset, e.k, e.retriever,
       count(*) AS examples,
       round(100 * avg(CASE WHEN e.hit THEN 1 ELSE 0 END), 2) AS recall_at_k,
       avg(e.first_evidence_rank) AS mean_first_evidence_rank,
       avg(e.mean_score) AS mean_retrieval_score
FROM per_example e
JOIN (SELECT DISTINCT run_id, example_id, dataset FROM predictions) p USING (run_id, example_id)
GROUP BY ALL;

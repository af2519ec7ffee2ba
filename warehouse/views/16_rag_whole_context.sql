-- Per run, dataset, retrieval method and k: of the examples answered, on how many the top-k chunks hold the
-- whole context (it has ≤ k chunks), so that RAG reads what LC reads and a saving or loss there is no trade-off.
CREATE OR REPLACE VIEW rag_whole_context AS
WITH contexts AS (
    SELECT run_id, example_id, k, max(context_chunks) AS context_chunks
    FROM retrievals
    GROUP BY ALL
)
SELECT p.run_id, p.dataset, p.method, p.k,
       count(*) AS examples,
       count(*) FILTER (WHERE c.context_chunks <= p.k) AS whole_context
FROM predictions p
JOIN contexts c USING (run_id, example_id, k)
WHERE p.k > 0
GROUP BY ALL;

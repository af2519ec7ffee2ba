-- LongBench-E: score per context-length bucket (words: 0-4k, 4-8k, 8k+), per run, dataset, method and k,
-- wherever the data carries a length (LongBench's round(100·mean, 2)); a failed prediction scores as an empty answer.
CREATE OR REPLACE VIEW length_buckets AS
SELECT p.run_id, p.dataset, p.model, p.method, p.k,
       CASE WHEN e.length < 4000 THEN '0-4k' WHEN e.length < 8000 THEN '4-8k' ELSE '8k+' END AS bucket,
       count(*) AS n,
       round(100 * avg(s.score), 2) AS score
FROM predictions p
JOIN scores s USING (run_id, example_id, method, k)
JOIN examples e ON e.dataset = p.dataset AND e.example_id = p.example_id
WHERE e.length IS NOT NULL
GROUP BY ALL;

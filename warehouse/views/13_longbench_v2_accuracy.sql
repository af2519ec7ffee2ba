-- LongBench v2 as its result.py reports it, per run, method and k: accuracy (%, one decimal) overall, on easy
-- and hard questions, and on short, medium and long contexts. A prediction without a readable answer is wrong,
-- and so is a failed one (scored as an empty answer).
CREATE OR REPLACE VIEW longbench_v2_accuracy AS
SELECT p.run_id, p.model, p.method, p.k,
       count(*) AS n,
       round(100 * avg(s.score), 1) AS overall,
       round(100 * avg(s.score) FILTER (WHERE e.difficulty = 'easy'), 1) AS easy,
       round(100 * avg(s.score) FILTER (WHERE e.difficulty <> 'easy'), 1) AS hard,
       round(100 * avg(s.score) FILTER (WHERE e.length_class = 'short'), 1) AS short,
       round(100 * avg(s.score) FILTER (WHERE e.length_class = 'medium'), 1) AS medium,
       round(100 * avg(s.score) FILTER (WHERE e.length_class NOT IN ('short', 'medium')), 1) AS long
FROM predictions p
JOIN scores s USING (run_id, example_id, method, k)
JOIN examples e ON e.dataset = p.dataset AND e.example_id = p.example_id
WHERE p.dataset = 'longbench_v2'
GROUP BY ALL;

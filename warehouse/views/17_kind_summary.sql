-- Per run, method, k and kind of question, over the examples whose kind is known (`examples.kind`): n, failed
-- and score as in `method_summary` (a failed prediction scores as an empty answer). On the unanswerable ones
-- the gold answer is "unanswerable", so the score is the share of answers that decline: 100 - score is the
-- method's false-answer rate on questions nothing answers.
CREATE OR REPLACE VIEW kind_summary AS
SELECT p.run_id, p.dataset, p.model, p.method, p.k, e.kind,
       count(*) AS n,
       count(*) FILTER (WHERE p.error IS NOT NULL) AS failed,
       round(100 * avg(s.score), 2) AS score,
       sum(p.prompt_tokens) AS prompt_tokens
FROM predictions p
JOIN scores s USING (run_id, example_id, method, k)
JOIN examples e ON e.dataset = p.dataset AND e.example_id = p.example_id
WHERE e.kind IS NOT NULL
GROUP BY ALL;

-- Every method scored on the same examples, Self-Route's own first step, and two costs.
-- Self-Route's first (RAG-and-route) step, on the self_route prediction: its own prompt and completion tokens
-- and its answer scored with the task's metric (the routing replay reads these, not the `rag` method's).
ALTER TABLE predictions ADD COLUMN step1_prompt_tokens INTEGER;
ALTER TABLE predictions ADD COLUMN step1_completion_tokens INTEGER;
ALTER TABLE predictions ADD COLUMN step1_score DOUBLE;
-- Of prompt_tokens, those the provider read from its prompt cache (usage.prompt_tokens_details.cached_tokens).
ALTER TABLE predictions ADD COLUMN cached_prompt_tokens INTEGER;
-- What the prediction cost to make: answers from ragroute's cache cost 0, paid-for failed attempts count,
-- provider-cached input tokens at the cached-input price. `cost_usd` stays the list cost of the answer.
ALTER TABLE predictions ADD COLUMN spent_cost_usd DOUBLE;
-- The price of provider-cached input tokens per 1M; NULL: billed as input.
ALTER TABLE prices ADD COLUMN cached_input_usd_per_m DOUBLE;

-- A failed prediction scores as LongBench scores an empty answer (0 under every metric): earlier failures get
-- that score row, under the metric the run's dataset scores with.
INSERT INTO scores (run_id, example_id, method, k, metric, score)
SELECT p.run_id, p.example_id, p.method, p.k,
       coalesce((SELECT any_value(s.metric) FROM scores s JOIN predictions q USING (run_id, example_id, method, k)
                 WHERE q.dataset = p.dataset), 'empty_answer'),
       0.0
FROM predictions p
WHERE p.error IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.run_id = p.run_id AND s.example_id = p.example_id
                  AND s.method = p.method AND s.k = p.k);

-- Each completed run's scores and costs (list and spent) over time, per dataset, model, method and k.
CREATE OR REPLACE VIEW nightly_trend AS
SELECT m.started_at::DATE AS day, m.started_at, m.run_id, m.dataset, m.model, m.method, m.k,
       m.score, m.failed, m.list_cost_usd, m.spent_cost_usd, m.prompt_tokens + m.completion_tokens AS tokens
FROM method_summary m JOIN eval_runs r USING (run_id)
WHERE r.status IN ('completed', 'completed_with_errors');

-- Per collection: its current question set (questions not retired) — kept questions per kind, rejected
-- candidates, reviewed ones — the questions retired as documents changed, and what generating them cost over
-- all finished generation runs (kept apart from evaluation costs).
CREATE OR REPLACE VIEW question_sets AS
WITH sets AS (
    SELECT collection,
           count(*) FILTER (WHERE retired_at IS NULL AND outcome = 'kept' AND kind = 'answerable') AS answerable,
           count(*) FILTER (WHERE retired_at IS NULL AND outcome = 'kept' AND kind = 'multi_hop') AS multi_hop,
           count(*) FILTER (WHERE retired_at IS NULL AND outcome = 'kept' AND kind = 'unanswerable')
               AS unanswerable,
           count(*) FILTER (WHERE retired_at IS NULL AND outcome = 'rejected') AS rejected,
           count(*) FILTER (WHERE retired_at IS NULL AND reviewed) AS reviewed,
           count(*) FILTER (WHERE retired_at IS NOT NULL) AS retired
    FROM questions
    GROUP BY collection
), generation AS (
    SELECT collection,
           count(*) AS generation_runs,
           max(finished_at) AS last_generated_at,
           sum(llm_calls) AS generation_calls,
           sum(prompt_tokens) AS generation_prompt_tokens,
           sum(completion_tokens) AS generation_completion_tokens,
           sum(list_cost_usd) AS generation_list_cost_usd,
           sum(spent_cost_usd) AS generation_spent_cost_usd,
           round(sum(seconds), 1) AS generation_seconds
    FROM question_runs
    WHERE status IN ('completed', 'failed')
    GROUP BY collection
)
SELECT * FROM sets LEFT JOIN generation USING (collection);

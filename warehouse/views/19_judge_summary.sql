-- Per run, method and k: how a judge model rated the answers it judged (replayed production questions, no gold
-- answer): supported % of the answers that were not declines, declined count, and what judging cost.
CREATE OR REPLACE VIEW judge_summary AS
SELECT run_id, method, k, judge_model, prompt_version,
       count(*) AS judged,
       count(*) FILTER (WHERE verdict = 'declined') AS declined,
       round(100.0 * count(*) FILTER (WHERE verdict = 'supported')
             / nullif(count(*) FILTER (WHERE verdict IS DISTINCT FROM 'declined'), 0), 2) AS supported_pct,
       count(*) FILTER (WHERE error IS NOT NULL) AS failed,
       sum(prompt_tokens) AS judge_prompt_tokens,
       sum(cost_usd) AS judge_list_cost_usd,
       sum(spent_cost_usd) AS judge_spent_cost_usd
FROM judgments
GROUP BY ALL;

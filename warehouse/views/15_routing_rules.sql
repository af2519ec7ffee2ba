-- Self-Route's two routing rules side by side, per run and k, replayed from Self-Route's own first step and the
-- LC answers of `self_route_steps` (examples where both are known): the
-- paper's (`text`: LC when the RAG answer declines in words) and the thresholded one (`threshold`: also when
-- P("unanswerable") ≥ the run's τ, see `decline_thresholds`; only for runs that have a τ).
CREATE OR REPLACE VIEW routing_rules AS
WITH steps AS (SELECT * FROM self_route_steps WHERE lc_score IS NOT NULL),
rules AS (
    SELECT DISTINCT run_id, 'text' AS rule, NULL::DOUBLE AS threshold FROM steps
    UNION ALL
    SELECT run_id, 'threshold' AS rule, threshold FROM decline_thresholds WHERE threshold IS NOT NULL
),
routed AS (
    SELECT steps.*, rule, threshold, text_declined OR coalesce(decline_prob >= threshold, false) AS to_lc
    FROM steps JOIN rules USING (run_id)
)
SELECT run_id, dataset, model, k, rule, threshold,
       count(*) AS n,
       sum(CASE WHEN to_lc THEN 1 ELSE 0 END) AS routed_to_lc,
       round(100 * avg(CASE WHEN to_lc THEN lc_score ELSE rag_score END), 2) AS score,
       round(100.0 * sum(rag_tokens + CASE WHEN to_lc THEN lc_tokens ELSE 0 END)
             / nullif(sum(lc_tokens), 0), 2) AS token_pct_of_lc,
       round(100 * avg(lc_score), 2) AS lc_score
FROM routed
GROUP BY ALL;

-- Production traffic per day and collection: route mix, tokens, dollars, latency, errors, and the asks answered
-- "The documents do not say." (counted in their route too).
CREATE OR REPLACE VIEW asks_summary AS
SELECT asked_at::DATE AS day, collection, model,
       count(*) AS asks,
       count(*) FILTER (WHERE route = 'rag') AS answered_by_rag,
       count(*) FILTER (WHERE route = 'lc') AS answered_by_lc,
       round(100.0 * count(*) FILTER (WHERE route = 'rag') / nullif(count(*) FILTER (WHERE route IS NOT NULL), 0), 2)
           AS rag_pct,
       sum(prompt_tokens) AS prompt_tokens,
       sum(completion_tokens) AS completion_tokens,
       sum(cost_usd) AS cost_usd,
       avg(latency_ms) AS mean_latency_ms,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       count(*) FILTER (WHERE len(invented_citations) > 0) AS asks_with_invented_citations,
       count(*) FILTER (WHERE not_in_documents) AS not_in_documents
FROM asks
GROUP BY ALL;

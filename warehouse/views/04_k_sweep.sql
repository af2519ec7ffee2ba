-- Score and token % of LC as k grows, per run, dataset and retrieval method (the paper's Table 7).
CREATE OR REPLACE VIEW k_sweep AS
SELECT run_id, dataset, model, method, k, n, score, token_pct_of_lc, answerable_pct
FROM method_summary
WHERE method IN ('rag', 'rag_reorder', 'rag_docorder', 'self_route');

-- Self-Route's decline threshold τ: route to LC when the RAG answer declines in words or P("unanswerable") ≥ τ.
-- Whether the RAG step declined in words (the paper's rule), kept apart from the route a threshold may change.
ALTER TABLE predictions ADD COLUMN step1_declined BOOLEAN;

-- The τ of each evaluation run: given (`--decline-threshold`) or picked from the run's own routing frontier
-- (`calibrated`); NULL with the reason when none applies (`no_signal`, `no_point`, `text_rule`). `ragroute ask` and the API
-- use the latest row of their model.
CREATE TABLE IF NOT EXISTS decline_thresholds (
    run_id            VARCHAR PRIMARY KEY,
    model             VARCHAR NOT NULL,
    dataset           VARCHAR NOT NULL,
    threshold         DOUBLE,
    source            VARCHAR NOT NULL,     -- given | calibrated | no_signal | no_point | text_rule
    max_decline_prob  DOUBLE,               -- the run's highest P("unanswerable") (the signal there is)
    note              VARCHAR NOT NULL,
    chosen_at         TIMESTAMP NOT NULL
);

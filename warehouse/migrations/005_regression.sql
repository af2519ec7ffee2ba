-- Each regression check of a run against its baseline: one row per method and k, and whether it passed.
CREATE TABLE IF NOT EXISTS regression_checks (
    run_id           VARCHAR NOT NULL,
    baseline_run_id  VARCHAR NOT NULL,
    method           VARCHAR NOT NULL,
    k                INTEGER NOT NULL,
    score            DOUBLE,
    baseline_score   DOUBLE,
    score_delta      DOUBLE,
    cost_usd         DOUBLE,
    baseline_cost_usd DOUBLE,
    cost_change_pct  DOUBLE,
    passed           BOOLEAN NOT NULL,
    reason           VARCHAR,
    checked_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, baseline_run_id, method, k)
);

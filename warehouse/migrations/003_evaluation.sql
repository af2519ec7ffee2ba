-- Evaluation runs: one row per run; a rerun of the same run id completes what is missing.
CREATE TABLE IF NOT EXISTS eval_runs (
    run_id        VARCHAR PRIMARY KEY,
    dataset       VARCHAR NOT NULL,
    methods       VARCHAR NOT NULL,
    config        JSON NOT NULL,
    code_version  VARCHAR NOT NULL,
    model         VARCHAR NOT NULL,
    endpoint      VARCHAR NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    status        VARCHAR NOT NULL     -- running | completed | completed_with_errors | failed
);

-- One row per (run, example, method, k). Self-Route rows add up the tokens of both of their steps.
CREATE TABLE IF NOT EXISTS predictions (
    run_id            VARCHAR NOT NULL,
    example_id        VARCHAR NOT NULL,
    dataset           VARCHAR NOT NULL,
    method            VARCHAR NOT NULL,     -- lc | rag | rag_reorder | self_route
    k                 INTEGER NOT NULL,     -- 0 for lc
    retriever         VARCHAR,
    model             VARCHAR NOT NULL,
    route             VARCHAR,              -- rag | lc (the path that produced the answer)
    prediction        VARCHAR,
    step1_prediction  VARCHAR,              -- self_route: the RAG-and-Route answer
    decline_prob      DOUBLE,               -- self_route: P(first token begins "unanswerable"), if logprobs
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    tokens_estimated  BOOLEAN,
    cost_usd          DOUBLE,
    latency_ms        DOUBLE,
    cached            BOOLEAN,
    error             VARCHAR,
    created_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, example_id, method, k)
);

CREATE TABLE IF NOT EXISTS scores (
    run_id      VARCHAR NOT NULL,
    example_id  VARCHAR NOT NULL,
    method      VARCHAR NOT NULL,
    k           INTEGER NOT NULL,
    metric      VARCHAR NOT NULL,
    score       DOUBLE NOT NULL,            -- 0..1; benchmark scores are round(100 * mean, 2)
    PRIMARY KEY (run_id, example_id, method, k)
);

CREATE TABLE IF NOT EXISTS retrievals (
    run_id        VARCHAR NOT NULL,
    example_id    VARCHAR NOT NULL,
    k             INTEGER NOT NULL,
    retriever     VARCHAR NOT NULL,
    rank          INTEGER NOT NULL,
    chunk_id      VARCHAR NOT NULL,
    chunk_index   INTEGER NOT NULL,
    score         DOUBLE,
    has_evidence  BOOLEAN,                 -- holds a gold evidence sentence (where the data set knows them)
    PRIMARY KEY (run_id, example_id, k, retriever, rank)
);

-- Prices per 1M tokens, refreshed from schemas/prices.yaml; join on model to reprice any run.
CREATE TABLE IF NOT EXISTS prices (
    model              VARCHAR PRIMARY KEY,
    input_usd_per_m    DOUBLE NOT NULL,
    output_usd_per_m   DOUBLE NOT NULL
);

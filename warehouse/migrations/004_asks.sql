-- Every question answered by `ragroute ask` or the HTTP API.
CREATE TABLE IF NOT EXISTS asks (
    ask_id             VARCHAR PRIMARY KEY,
    asked_at           TIMESTAMP NOT NULL,
    question_sha256    VARCHAR NOT NULL,
    question           VARCHAR NOT NULL,
    collection         VARCHAR NOT NULL,
    method             VARCHAR NOT NULL,
    route              VARCHAR,
    answer             VARCHAR,
    citations          JSON,
    invented_citations INTEGER[],
    model              VARCHAR NOT NULL,
    prompt_tokens      INTEGER,
    completion_tokens  INTEGER,
    cost_usd           DOUBLE,
    latency_ms         DOUBLE,
    error              VARCHAR
);

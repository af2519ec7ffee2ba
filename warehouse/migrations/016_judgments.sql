-- A judge's verdict on an answer that has no gold answer (a replayed production question), one row per
-- prediction judged: the judge model and prompt version, the verdict (supported | unsupported | declined, NULL
-- when the reply said neither), and the judge's own tokens and dollars, apart from the evaluation's.
CREATE TABLE IF NOT EXISTS judgments (
    run_id            VARCHAR NOT NULL,
    example_id        VARCHAR NOT NULL,
    method            VARCHAR NOT NULL,
    k                 INTEGER NOT NULL,
    judge_model       VARCHAR NOT NULL,
    prompt_version    VARCHAR NOT NULL,
    verdict           VARCHAR,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          DOUBLE,
    spent_cost_usd    DOUBLE,
    error             VARCHAR,
    judged_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, example_id, method, k)
);

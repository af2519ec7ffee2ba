-- Generated question sets that follow an ingested collection (`ragroute questions generate`). Every candidate is
-- kept, used or not: `outcome` kept | rejected, with the rule that rejected it and why. A question is tied to the
-- chunks and document versions it came from (JSON lists, in source order); when a document changes or goes,
-- its questions are retired (`retired_at`), never deleted. A reviewed question (`ragroute questions import`) is
-- retired only when its document is deleted.
CREATE TABLE IF NOT EXISTS questions (
    question_id     VARCHAR PRIMARY KEY,
    collection      VARCHAR NOT NULL,     -- the Weaviate collection, as in the manifest
    kind            VARCHAR NOT NULL,     -- answerable | multi_hop | unanswerable
    question        VARCHAR NOT NULL,
    answer          VARCHAR NOT NULL,     -- "unanswerable" for an unanswerable question
    evidence        VARCHAR NOT NULL,     -- JSON list: the quoted sentence of each source chunk
    chunk_ids       VARCHAR NOT NULL,     -- JSON list
    chunk_hashes    VARCHAR NOT NULL,     -- JSON list: each source chunk's content hash
    doc_ids         VARCHAR NOT NULL,     -- JSON list
    doc_hashes      VARCHAR NOT NULL,     -- JSON list: each document's content sha256 when generated
    model           VARCHAR NOT NULL,     -- the generator model
    prompt_version  VARCHAR NOT NULL,
    outcome         VARCHAR NOT NULL,     -- kept | rejected
    rule            VARCHAR,              -- the rule that rejected it
    reason          VARCHAR,
    reviewed        BOOLEAN NOT NULL,
    run_id          VARCHAR,              -- the generation run (NULL: imported)
    written_at      TIMESTAMP NOT NULL,
    retired_at      TIMESTAMP,
    retired_reason  VARCHAR
);

-- One row per generation run: what it produced and what its LLM calls cost (apart from evaluation costs).
CREATE TABLE IF NOT EXISTS question_runs (
    run_id              VARCHAR PRIMARY KEY,
    collection          VARCHAR NOT NULL,
    model               VARCHAR NOT NULL,
    prompt_version      VARCHAR NOT NULL,
    started_at          TIMESTAMP NOT NULL,
    finished_at         TIMESTAMP,
    status              VARCHAR NOT NULL,   -- running | completed | failed
    documents           INTEGER NOT NULL,   -- documents questions were generated for
    candidates          INTEGER NOT NULL,
    kept                INTEGER NOT NULL,
    retired             INTEGER NOT NULL,
    by_kind             VARCHAR NOT NULL,   -- JSON: kind -> {candidates, kept}
    rejections          VARCHAR NOT NULL,   -- JSON: rule -> count
    llm_calls           INTEGER NOT NULL,
    llm_requests        INTEGER NOT NULL,   -- HTTP requests sent (answers from the cache send none)
    cached_calls        INTEGER NOT NULL,
    prompt_tokens       BIGINT NOT NULL,
    completion_tokens   BIGINT NOT NULL,
    list_cost_usd       DOUBLE,
    spent_cost_usd      DOUBLE,
    seconds             DOUBLE,
    error               VARCHAR
);

-- Ingestion manifest: what is indexed, from which file version and configuration.
CREATE TABLE IF NOT EXISTS documents (
    path             VARCHAR PRIMARY KEY,
    doc_id           VARCHAR NOT NULL,
    source_root      VARCHAR NOT NULL,
    collection       VARCHAR NOT NULL,
    content_sha256   VARCHAR NOT NULL,
    config_signature VARCHAR NOT NULL,
    status           VARCHAR NOT NULL,   -- indexed | quarantined | error
    kind             VARCHAR,
    pages            INTEGER,
    pages_ocr        INTEGER,
    chunk_count      INTEGER NOT NULL DEFAULT 0,
    last_run_id      VARCHAR NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS chunks (
    chunk_id       VARCHAR PRIMARY KEY,
    doc_id         VARCHAR NOT NULL,
    path           VARCHAR NOT NULL,
    collection     VARCHAR NOT NULL,
    chunk_index    INTEGER NOT NULL,
    page           INTEGER,
    n_words        INTEGER,
    content_hash   VARCHAR NOT NULL,
    ocr            BOOLEAN,
    ocr_confidence DOUBLE
);

CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id             VARCHAR PRIMARY KEY,
    source_root        VARCHAR NOT NULL,
    collection         VARCHAR NOT NULL,
    config_signature   VARCHAR NOT NULL,
    started_at         TIMESTAMP NOT NULL,
    finished_at        TIMESTAMP,
    status             VARCHAR NOT NULL,   -- running | completed | completed_with_failures | failed
    documents_seen     INTEGER,
    documents_changed  INTEGER,
    documents_deleted  INTEGER,
    documents_failed   INTEGER,
    pages              INTEGER,
    pages_ocr          INTEGER,
    chunks_written     INTEGER,
    chunks_deleted     INTEGER,
    quarantined        INTEGER,
    seconds            DOUBLE,
    notes              VARCHAR
);

CREATE TABLE IF NOT EXISTS quarantine (
    run_id         VARCHAR NOT NULL,
    path           VARCHAR NOT NULL,
    chunk_id       VARCHAR,
    stage          VARCHAR NOT NULL,     -- scan | extract | validate | index
    reason         VARCHAR NOT NULL,
    detail         VARCHAR,
    quarantined_at TIMESTAMP NOT NULL
);

-- One row per run and expectation: the Great Expectations result summary.
CREATE TABLE IF NOT EXISTS validation_results (
    run_id         VARCHAR NOT NULL,
    expectation    VARCHAR NOT NULL,
    column_name    VARCHAR,
    success        BOOLEAN NOT NULL,
    element_count  INTEGER,
    unexpected_count INTEGER,
    validated_at   TIMESTAMP NOT NULL
);

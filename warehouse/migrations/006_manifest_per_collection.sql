-- One file can be indexed into several collections (e.g. once per embedding model): the manifest keys
-- documents on (path, collection) and chunks on (chunk_id, collection), so one collection's rows never
-- replace another's.
CREATE TABLE documents_v6 (
    path             VARCHAR NOT NULL,
    doc_id           VARCHAR NOT NULL,
    source_root      VARCHAR NOT NULL,
    collection       VARCHAR NOT NULL,
    content_sha256   VARCHAR NOT NULL,
    config_signature VARCHAR NOT NULL,
    status           VARCHAR NOT NULL,   -- indexed | quarantined | duplicate | pending
    kind             VARCHAR,
    pages            INTEGER,
    pages_ocr        INTEGER,
    chunk_count      INTEGER NOT NULL DEFAULT 0,
    last_run_id      VARCHAR NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (path, collection)
);
INSERT INTO documents_v6 SELECT * FROM documents;
DROP TABLE documents;
ALTER TABLE documents_v6 RENAME TO documents;

CREATE TABLE chunks_v6 (
    chunk_id       VARCHAR NOT NULL,
    doc_id         VARCHAR NOT NULL,
    path           VARCHAR NOT NULL,
    collection     VARCHAR NOT NULL,
    chunk_index    INTEGER NOT NULL,
    page           INTEGER,
    n_words        INTEGER,
    content_hash   VARCHAR NOT NULL,
    ocr            BOOLEAN,
    ocr_confidence DOUBLE,
    PRIMARY KEY (chunk_id, collection)
);
INSERT INTO chunks_v6 SELECT * FROM chunks;
DROP TABLE chunks;
ALTER TABLE chunks_v6 RENAME TO chunks;

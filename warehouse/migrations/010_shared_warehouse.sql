-- For warehouses shared by hosts (DuckLake). `write_guard` holds one row that every keyed write bumps: two
-- keyed writes that overlap in time then conflict, and the one that loses runs again (DuckLake enforces no
-- PRIMARY KEY). `llm_responses` is the LLM response cache when the warehouse is a DuckLake, so an answer
-- cached by one host is a hit on every other; the embedded file backend keeps its SQLite cache.
CREATE TABLE IF NOT EXISTS write_guard (
    version BIGINT NOT NULL
);
INSERT INTO write_guard VALUES (0);

CREATE TABLE IF NOT EXISTS llm_responses (
    key       VARCHAR PRIMARY KEY,
    body      VARCHAR NOT NULL,
    cached_at TIMESTAMP NOT NULL
);

-- Service health checks: one row per check of the local or external services.
CREATE TABLE IF NOT EXISTS service_checks (
    checked_at       TIMESTAMP NOT NULL,
    weaviate_url     VARCHAR NOT NULL,
    weaviate_version VARCHAR,
    llm_base_url     VARCHAR NOT NULL,
    llm_model        VARCHAR,
    completion_text  VARCHAR,
    prompt_tokens    INTEGER,
    completion_tokens INTEGER,
    ok               BOOLEAN NOT NULL
);

-- What an evaluation needs to know of each benchmark example beyond its id: its context length in words
-- (LongBench-E's buckets) and LongBench v2's difficulty, length class and domain.
CREATE TABLE IF NOT EXISTS examples (
    dataset      VARCHAR NOT NULL,
    example_id   VARCHAR NOT NULL,
    length       INTEGER,
    difficulty   VARCHAR,
    length_class VARCHAR,
    domain       VARCHAR,
    PRIMARY KEY (dataset, example_id)
);

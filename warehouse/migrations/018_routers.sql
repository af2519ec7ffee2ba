-- What a router may know of a question before any answer, per run, example and k (written with the
-- retrieval): the question and its kind, the retrieval scores (top, margin to the second, spread to the k-th),
-- how many chunks came back, and the tokens of those chunks and of the whole context.
CREATE TABLE IF NOT EXISTS route_features (
    run_id        VARCHAR NOT NULL,
    example_id    VARCHAR NOT NULL,
    k             INTEGER NOT NULL,
    question      VARCHAR NOT NULL,
    kind          VARCHAR,
    top_score     DOUBLE,
    score_margin  DOUBLE,
    score_spread  DOUBLE,
    retrieved     INTEGER,
    rag_tokens    INTEGER,
    doc_tokens    INTEGER,
    PRIMARY KEY (run_id, example_id, k)
);

-- Learned routers (`ragroute router train`), one row per training: the model and data set it routes for, the
-- runs its outcomes came from, its cross-validated accuracy beside always choosing the commoner label, and the
-- fitted model itself (scikit-learn, serialised with joblib).
CREATE TABLE IF NOT EXISTS routers (
    router_id          VARCHAR PRIMARY KEY,
    model              VARCHAR NOT NULL,
    dataset            VARCHAR NOT NULL,
    features_version   INTEGER NOT NULL,
    trained_at         TIMESTAMP NOT NULL,
    training_runs      VARCHAR NOT NULL,   -- JSON list of run ids
    examples           INTEGER NOT NULL,   -- (question, k) outcomes
    questions          INTEGER NOT NULL,
    needs_lc           INTEGER NOT NULL,   -- outcomes where LC scored better than RAG
    cv_accuracy        DOUBLE NOT NULL,
    majority_accuracy  DOUBLE NOT NULL,
    router             BLOB NOT NULL
);

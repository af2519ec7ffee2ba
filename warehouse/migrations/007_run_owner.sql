-- The host and process that run an ingest or an evaluation: a run whose process is gone without finishing it
-- (killed, or its machine lost power) is marked 'interrupted' by the next run on that host.
ALTER TABLE ingest_runs ADD COLUMN host VARCHAR;
ALTER TABLE ingest_runs ADD COLUMN pid INTEGER;
ALTER TABLE eval_runs ADD COLUMN host VARCHAR;
ALTER TABLE eval_runs ADD COLUMN pid INTEGER;

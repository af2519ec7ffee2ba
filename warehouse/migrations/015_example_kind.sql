-- The kind of question of an example where its data set says it (the `mini` benchmark's and a generated
-- question set's: answerable, multi_hop, unanswerable), for scores per kind and Self-Route's declines on the
-- unanswerable ones. NULL where the data set does not say (LongBench, ∞Bench, older runs).
ALTER TABLE examples ADD COLUMN kind VARCHAR;

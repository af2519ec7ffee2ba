-- A regression check's paired test of the score difference (run − baseline, points of 100) over the examples
-- both runs scored: how many, the bootstrap confidence interval, and McNemar's p-value where scores are 0 or 1.
ALTER TABLE regression_checks ADD COLUMN n_paired INTEGER;
ALTER TABLE regression_checks ADD COLUMN ci_low DOUBLE;
ALTER TABLE regression_checks ADD COLUMN ci_high DOUBLE;
ALTER TABLE regression_checks ADD COLUMN p_value DOUBLE;

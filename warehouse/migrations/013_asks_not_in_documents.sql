-- Whether an ask's answer was "The documents do not say." (nothing retrieved, a decline, or no passage holding
-- the answer): nothing cited. NULL for asks recorded before.
ALTER TABLE asks ADD COLUMN not_in_documents BOOLEAN;

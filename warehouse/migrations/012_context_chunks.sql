-- How many chunks (at the run's chunk size) the whole context has, per retrieval: where it is ≤ k, the top-k
-- chunks hold the whole context and RAG reads what LC reads. NULL where unknown (a corpus QA set, older runs).
ALTER TABLE retrievals ADD COLUMN context_chunks INTEGER;

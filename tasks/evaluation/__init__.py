"""Evaluate: RAG, long context and Self-Route on benchmarks and corpus QA sets, scored and recorded."""

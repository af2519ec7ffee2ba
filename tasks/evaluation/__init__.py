"""Benchmark-specific pieces of the evaluation: prompts, answer extraction and official aggregations."""

"""Connections to the outside: the LLM, Weaviate, the tokenizer, local services, Prefect deployment, health."""

"""Ingest: scan a folder, plan the changes, extract, chunk, validate, embed and index into Weaviate."""

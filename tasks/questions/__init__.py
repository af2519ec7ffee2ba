"""Generated, validated question sets that follow an ingested collection."""

"""The router: Self-Route's decline check and answer step, and `ask` over an ingested collection with citations."""

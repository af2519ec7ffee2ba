"""What the test suite and the benchmarks both stand on: generated documents of every kind (good and bad), and
local clusters on loopback (Dask, PostgreSQL). No ingest or evaluation run imports this package."""

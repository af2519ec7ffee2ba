.PHONY: setup demo test lint services-up services-down clean

# Set up everything on an empty machine (idempotent; seconds when done).
setup:
	./scripts/setup.sh

DATA_DIR ?= $(or $(RAGROUTE_DATA_DIR),.ragroute)

# The main job, offline: set up, start the services, ingest the bundled sample documents, generate and validate
# questions of three kinds from them, evaluate the collection with its questions (per-kind scores, Self-Route's
# decline precision and recall), print the summary and write the dashboard. `mini`, the benchmark over the same
# kind of reports, stays for `ragroute eval --dataset mini`, the tests and bench/.
demo: setup
	.venv/bin/ragroute services up
	.venv/bin/ragroute services status
	.venv/bin/ragroute samples $(DATA_DIR)/samples
	.venv/bin/ragroute ingest $(DATA_DIR)/samples --collection Samples
	.venv/bin/ragroute questions generate --collection Samples
	.venv/bin/ragroute eval --collection Samples --methods lc,rag,self_route
	.venv/bin/ragroute report --out $(DATA_DIR)/report.html
	@.venv/bin/ragroute sql "SELECT method, k, kind, n, score FROM kind_summary \
	    WHERE run_id = (SELECT run_id FROM eval_runs ORDER BY started_at DESC LIMIT 1) ORDER BY method, kind"
	@echo "dashboard: file://$(abspath $(DATA_DIR))/report.html"
	@echo "warehouse: $(DATA_DIR)/ragroute.duckdb — try: .venv/bin/ragroute sql 'SELECT * FROM method_summary'"

# The test suite, against the real services (what CI runs).
test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m scripts.import_graph
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

services-up:
	.venv/bin/ragroute services up

services-down:
	.venv/bin/ragroute services down

clean:
	-.venv/bin/ragroute services down
	rm -rf .ragroute

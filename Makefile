.PHONY: setup demo test lint services-up services-down clean

# Set up everything on an empty machine (idempotent; seconds when done).
setup:
	./scripts/setup.sh

DATA_DIR ?= $(or $(RAGROUTE_DATA_DIR),.ragroute)

# The main job, offline: set up, start the services, ingest the bundled sample documents, evaluate the
# bundled benchmark with the local model, print the summary and write the dashboard. The evaluation runs mini's
# first three questions (one of each kind, two ~4,000-word reports) at the default k = 5, where every ordering
# differs from rag and RAG reads ~37% of each report; the six questions take about twice as long.
demo: setup
	.venv/bin/ragroute services up
	.venv/bin/ragroute services status
	.venv/bin/ragroute samples $(DATA_DIR)/samples
	.venv/bin/ragroute ingest $(DATA_DIR)/samples --collection Samples
	.venv/bin/ragroute eval --dataset mini --methods lc,rag,rag_reorder,rag_docorder,self_route --limit 3
	.venv/bin/ragroute report --out $(DATA_DIR)/report.html
	@.venv/bin/ragroute sql "SELECT method, k, failed, score, token_pct_of_lc, answerable_pct, \
	    round(list_cost_usd, 6) AS list_usd, round(spent_cost_usd, 6) AS spent_usd \
	    FROM method_summary WHERE run_id = (SELECT run_id FROM eval_runs ORDER BY started_at DESC LIMIT 1) ORDER BY method"
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

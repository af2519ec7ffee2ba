.PHONY: setup demo test lint services-up services-down clean

# Set up everything on an empty machine (idempotent; seconds when done).
setup:
	./scripts/setup.sh

# The main job: set up, start the services, check them end to end.
demo: setup
	.venv/bin/ragroute services up
	.venv/bin/ragroute services status
	.venv/bin/ragroute check

# The test suite, against the real services (what CI runs).
test: setup
	.venv/bin/ruff check .
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

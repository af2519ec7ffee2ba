"""A Prefect flow run under a real (temporary) Prefect server."""

import duckdb
from prefect.testing.utilities import prefect_test_harness

from flows.health import health


def test_health_flow_records_a_check(running_services):
    with prefect_test_harness(server_startup_timeout=120):
        state = health(return_state=True)
    assert state.is_completed()
    check = state.result()
    assert check.ok
    assert check.weaviate_version == running_services.weaviate_version.removeprefix("v")
    with duckdb.connect(str(running_services.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT weaviate_version, llm_model, completion_tokens, ok FROM service_checks"
        ).fetchall()
    assert rows[-1][0] == check.weaviate_version
    assert rows[-1][1] == running_services.llm_model
    assert rows[-1][2] > 0 and rows[-1][3]

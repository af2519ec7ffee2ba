"""`ragroute services up | down | status` as a user runs them, plus the clear errors."""

import importlib.metadata
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.processes import process_alive
from schemas.settings import Settings
from tasks.clients import services


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ragroute.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


OFFSET = int(os.environ.get("RAGROUTE_TEST_PORT_OFFSET", "0"))
WEAVIATE_PORT, PREFECT_PORT = 28079 + OFFSET, 28430 + OFFSET


@pytest.fixture
def own_env(tmp_path):
    """An environment with its own data dir and ports, apart from the session's services."""
    external = ("WEAVIATE_URL", "OPENAI_BASE_URL", "PREFECT_API_URL")
    env = {k: v for k, v in os.environ.items() if k not in external}
    env.update(
        {
            "RAGROUTE_DATA_DIR": str(tmp_path / "data"),
            "RAGROUTE_WEAVIATE_HTTP_PORT": str(WEAVIATE_PORT),
            "RAGROUTE_WEAVIATE_GRPC_PORT": str(50260 + OFFSET),
            "RAGROUTE_LLM_PORT": str(28011 + OFFSET),
            "RAGROUTE_PREFECT_PORT": str(PREFECT_PORT),
        }
    )
    return env


def test_up_status_down_leaves_no_process(own_env):
    up = _cli("services", "up", env=own_env)
    assert up.returncode == 0, up.stderr
    try:
        status = _cli("services", "status", "--json", env=own_env)
        state = json.loads(status.stdout)
        assert state["weaviate"]["url"] == f"http://127.0.0.1:{WEAVIATE_PORT}"
        assert state["weaviate"]["version"] == Settings().weaviate_version.removeprefix("v")
        assert state["llm"]["base_url"] == f"http://127.0.0.1:{28011 + OFFSET}/v1"
        assert state["llm"]["model"] == Settings().llm_model
        prefect = state["prefect"]
        assert prefect["api_url"] == f"http://127.0.0.1:{PREFECT_PORT}/api" and prefect["managed"]
        assert prefect["version"] == importlib.metadata.version("prefect")
        assert (Path(own_env["RAGROUTE_DATA_DIR"]) / "prefect" / "prefect.db").exists()
        pids = [state["weaviate"]["pid"], state["llm"]["pid"], prefect["pid"]]
        assert all(pids) and all(process_alive(pid) for pid in pids)
        table = _cli("services", "status", env={**own_env, "COLUMNS": "200"})
        assert f"Prefect {prefect['version']}" in table.stdout
        again = _cli("services", "up", env=own_env)
        assert all(f"{name}: running" in again.stderr for name in ("weaviate", "llm", "prefect"))
        children = _process_group(prefect["pid"])
    finally:
        down = _cli("services", "down", env=own_env)
    assert down.returncode == 0 and "prefect: stopped" in down.stderr
    assert not any(process_alive(pid) for pid in pids + children)
    after = json.loads(_cli("services", "status", "--json", env=own_env).stdout)
    assert after["weaviate"]["version"] is None and after["llm"]["model"] is None
    assert after["prefect"]["version"] is None and after["prefect"]["pid"] is None


def _process_group(pgid: int) -> list[int]:
    """Every process of a process group (the Prefect server starts its web server as a child)."""
    listing = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True).stdout
    return [int(pid) for pid, group in (line.split() for line in listing.splitlines()) if int(group) == pgid]


def test_taken_port_is_a_clear_error(own_env):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", WEAVIATE_PORT))
        squatter.listen()
        result = _cli("services", "up", env=own_env)
    assert result.returncode == 1
    assert f"port(s) {WEAVIATE_PORT} (RAGROUTE_WEAVIATE_HTTP_PORT)" in result.stderr
    assert "already in use" in result.stderr


def test_missing_binary_tells_how_to_get_it(tmp_path):
    settings = Settings(local_dir=tmp_path / "empty", data_dir=tmp_path / "data", weaviate_http_port=28179)
    with pytest.raises(services.ServiceError, match="make setup.*docker compose.*WEAVIATE_URL"):
        services.start(settings, services.weaviate_service(settings))


def test_external_endpoints_are_not_started(tmp_path):
    settings = Settings(
        weaviate_url="http://10.0.0.1:8080",
        openai_base_url="http://10.0.0.2:8000/v1",
        prefect_api_url="http://10.0.0.3:4200/api",
        data_dir=tmp_path,
    )
    assert services.managed_services(settings) == []


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["services"],
        ["services", "up"],
        ["services", "down"],
        ["services", "status"],
        ["check"],
        ["ingest"],
        ["eval"],
        ["score"],
        ["samples"],
        ["sql"],
        ["report"],
        ["ask"],
        ["serve"],
    ],
)
def test_every_command_has_help(command):
    result = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "Usage" in result.stdout

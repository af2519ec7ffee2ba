"""`ragroute services up | down | status` as a user runs them, plus the clear errors."""

import json
import os
import socket
import subprocess
import sys

import pytest

from schemas.settings import Settings
from tasks.clients import services


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ragroute.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def own_env(tmp_path):
    """An environment with its own data dir and ports, apart from the session's services."""
    env = {k: v for k, v in os.environ.items() if k not in ("WEAVIATE_URL", "OPENAI_BASE_URL")}
    env.update(
        {
            "RAGROUTE_DATA_DIR": str(tmp_path / "data"),
            "RAGROUTE_WEAVIATE_HTTP_PORT": "28079",
            "RAGROUTE_WEAVIATE_GRPC_PORT": "50260",
            "RAGROUTE_LLM_PORT": "28011",
        }
    )
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_status_down_leaves_no_process(own_env):
    up = _cli("services", "up", env=own_env)
    assert up.returncode == 0, up.stderr
    try:
        status = _cli("services", "status", "--json", env=own_env)
        state = json.loads(status.stdout)
        assert state["weaviate"]["url"] == "http://127.0.0.1:28079"
        assert state["weaviate"]["version"] == Settings().weaviate_version.removeprefix("v")
        assert state["llm"]["base_url"] == "http://127.0.0.1:28011/v1"
        assert state["llm"]["model"] == Settings().llm_model
        pids = [state["weaviate"]["pid"], state["llm"]["pid"]]
        assert all(pids) and all(_alive(pid) for pid in pids)
        again = _cli("services", "up", env=own_env)
        assert "weaviate: running" in again.stderr and "llm: running" in again.stderr
    finally:
        down = _cli("services", "down", env=own_env)
    assert down.returncode == 0
    assert not any(_alive(pid) for pid in pids)
    after = json.loads(_cli("services", "status", "--json", env=own_env).stdout)
    assert after["weaviate"]["version"] is None and after["llm"]["model"] is None


def test_taken_port_is_a_clear_error(own_env):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 28079))
        squatter.listen()
        result = _cli("services", "up", env=own_env)
    assert result.returncode == 1
    assert "port(s) 28079 (RAGROUTE_WEAVIATE_HTTP_PORT)" in result.stderr
    assert "already in use" in result.stderr


def test_missing_binary_tells_how_to_get_it(tmp_path):
    settings = Settings(local_dir=tmp_path / "empty", data_dir=tmp_path / "data", weaviate_http_port=28179)
    with pytest.raises(services.ServiceError, match="make setup.*docker compose.*WEAVIATE_URL"):
        services.start(settings, services.weaviate_service(settings))


def test_external_endpoints_are_not_started(tmp_path):
    settings = Settings(
        weaviate_url="http://10.0.0.1:8080", openai_base_url="http://10.0.0.2:8000/v1", data_dir=tmp_path
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

"""End to end under a real Prefect server (SQLite) with real process workers: `ragroute deploy`, a file created
under a watched folder runs `reindex` through its event trigger, and `prefect deployment run nightly/nightly`
completes with warehouse rows and artifacts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from schemas.collection import collection_name
from schemas.settings import PROJECT_ROOT
from tasks.clients.vectorstore import connect

BIN = Path(sys.executable).parent
PORT = 18420 + int(os.environ.get("RAGROUTE_TEST_PORT_OFFSET", "0"))


def _start(command: list[str], env: dict, log: Path, cwd: Path = PROJECT_ROOT) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_for(check, timeout_s: float, what: str, logs: list[Path]):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(2)
    tails = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-4000:]}" for log in logs if log.exists())
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}\n{tails}")


@pytest.fixture(scope="module")
def prefect(running_services, tmp_path_factory):
    """A Prefect server on SQLite, ragroute deployed to it, and one process worker per work pool."""
    home = tmp_path_factory.mktemp("prefect-server")
    url = f"http://127.0.0.1:{PORT}/api"
    env = {
        **os.environ,
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(PORT),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
    }
    logs = {name: home / f"{name}.log" for name in ("server", "cpu", "gpu")}
    processes = [_start([str(BIN / "prefect"), "server", "start", "--no-ui"], env, logs["server"])]
    try:
        _wait_for(lambda: _healthy(url), 180, "the Prefect server", [logs["server"]])
        deploy = subprocess.run(
            [str(BIN / "ragroute"), "deploy"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True
        )
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        assert "work pool cpu: created" in deploy.stderr and "work pool gpu: created" in deploy.stderr
        for pool in ("cpu", "gpu"):
            processes.append(_start([str(BIN / "ragroute"), "worker", "--pool", pool], env, logs[pool]))
        yield {"env": env, "url": url, "home": home, "logs": list(logs.values())}
    finally:
        for process in reversed(processes):
            _stop(process)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _api(prefect, method: str, path: str, json: dict | None = None):
    response = httpx.request(method, f"{prefect['url']}{path}", json=json, timeout=30)
    response.raise_for_status()
    return response.json()


def _flow_runs(prefect, deployment: str) -> list[dict]:
    return _api(
        prefect, "POST", "/flow_runs/filter", {"deployments": {"name": {"any_": [deployment]}}, "limit": 50}
    )


def test_deployments_are_applied(prefect):
    names = {d["name"] for d in _api(prefect, "POST", "/deployments/filter", {})}
    assert {"ingest", "reindex", "scan", "nightly", "health"} <= names
    nightly = _api(prefect, "GET", "/deployments/name/nightly/nightly")
    assert nightly["work_pool_name"] == "gpu"
    assert (nightly.get("global_concurrency_limit") or {}).get("limit") == 1, nightly
    assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 2 * * *"]
    scan = _api(prefect, "GET", "/deployments/name/scan/scan")
    assert scan["work_pool_name"] == "cpu" and scan["schedules"][0]["schedule"]["interval"] == 300


def test_created_document_event_runs_reindex(prefect, tmp_path):
    settings_env = prefect["env"]
    folder = tmp_path / "inbox"
    folder.mkdir()
    watch_log = tmp_path / "watch.log"
    watcher = _start(
        [str(BIN / "ragroute"), "watch", str(folder), "--collection", "Events"], settings_env, watch_log
    )
    try:
        _wait_for(lambda: "watching" in watch_log.read_text(), 120, "the watcher to start", [watch_log])
        (folder / "arrival.txt").write_text(
            "The code word for arrivals is GANGWAY-4. " + "Ships arrive at the harbour at dawn. " * 40
        )
        _wait_for(
            lambda: "ragroute.document.created" in watch_log.read_text(), 60, "the created event", [watch_log]
        )
        name = collection_name("Events", "all-MiniLM-L6-v2")

        def indexed() -> list[str]:
            with connect(_settings()) as client:
                if not client.collections.exists(name) and client.alias.get(alias_name=name) is None:
                    return []
                return [o.properties["text"] for o in client.collections.use(name).iterator()]

        texts = _wait_for(
            indexed, 300, "the new document's chunks in Weaviate", prefect["logs"] + [watch_log]
        )
        assert any("GANGWAY-4" in text for text in texts)
        runs = _flow_runs(prefect, "reindex")
        assert runs and runs[0]["parameters"]["path"] == str((folder / "arrival.txt").resolve())
        assert runs[0]["parameters"]["change"] == "created"
    finally:
        _stop(watcher)


def _settings():
    from schemas.settings import get_settings

    return get_settings()


def test_nightly_deployment_run_writes_rows_and_artifacts(prefect, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tide.txt").write_text("The tide tables are printed every Monday. " * 50)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "sources:\n  - path: docs\n    collection: NightlyDeployed\n"
        "evaluations:\n  - dataset: mini\n    methods: [rag, lc]\n    k: [3]\n    limit: 2\n"
    )
    started = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", "nightly/nightly", "--param", f"plan_path={plan}"],
        env=prefect["env"],
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", started.stdout).group(1)

    def finished() -> dict | None:
        run = _api(prefect, "GET", f"/flow_runs/{run_id}")
        return run if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    run = _wait_for(finished, 540, "the nightly flow run", prefect["logs"])
    assert run["state"]["type"] == "COMPLETED", run["state"]
    keys = {
        a["key"]
        for a in _api(
            prefect, "POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}}
        )
    }
    assert {"eval-mini", "eval-mini-methods", "nightly-regression"} <= keys
    table = _api(
        prefect, "POST", "/artifacts/filter", {"artifacts": {"key": {"any_": ["eval-mini-methods"]}}}
    )
    assert {row["method"] for row in _table(table[0]["data"])} == {"rag", "lc"}
    with duckdb.connect(str(_settings().warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT count(*) FROM predictions p JOIN eval_runs r USING (run_id) WHERE r.dataset = 'mini' "
            "AND p.method IN ('rag', 'lc')"
        ).fetchone()
        ingested = con.execute(
            "SELECT count(*) FROM documents WHERE collection = ?",
            [collection_name("NightlyDeployed", "all-MiniLM-L6-v2")],
        ).fetchone()
    assert rows[0] >= 4 and ingested[0] == 1
    assert (_settings().data_dir / "reports" / "nightly-mini.html").exists()


def _table(data) -> list[dict]:
    import json

    return json.loads(data) if isinstance(data, str) else data

"""Two hosts on one machine: a Prefect server on PostgreSQL, a cpu worker and a gpu worker started from two
working copies with data dirs of their own, sharing only the Prefect server, Weaviate (and the LLM server),
the DuckLake warehouse (catalog on PostgreSQL, a shared data folder) and Prefect's result storage.

A new file in a watched folder is reindexed by the cpu worker; a third working copy evaluates `lc,rag,self_route`
with logprobs and a decline threshold τ (the baseline); the nightly run of the same goes to the gpu worker, answers
from the shared LLM cache and runs its regression check against that baseline; the third working copy's
`ragroute sql` then sees the manifest and evaluation rows of all, one manifest row per document, each run's τ
and the stored comparisons; a second nightly run, through a third worker, makes no LLM call."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.collection import collection_name
from schemas.settings import PROJECT_ROOT, Settings
from tasks.testbed.postgres import create_database, lake_target
from tests.integration.test_deployments import _healthy, _start, _stop, _wait_for

BIN = Path(sys.executable).parent
METHODS, TAU, LIMIT = ["lc", "rag", "self_route"], 0.5, 2
PORT = 18520 + int(os.environ.get("RAGROUTE_TEST_PORT_OFFSET", "0"))
COLLECTION = "TwoHosts"
# Variables of the test session that must not leak into the hosts (each host has its own data dir).
PRIVATE = ("RAGROUTE_DATA_DIR", "PREFECT_HOME", "RAGROUTE_WAREHOUSE", "RAGROUTE_WAREHOUSE_DATA_PATH")


def _working_copy(target: Path) -> Path:
    """The project's files (tracked and new, not ignored) copied to `target`: another host's checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


class Hosts:
    def __init__(self, home: Path, shared: dict[str, str]):
        self.home, self.shared, self.processes, self.logs = home, shared, [], []

    def env(self, host: str) -> dict[str, str]:
        copy = self.home / host
        base = {k: v for k, v in os.environ.items() if k not in PRIVATE}
        return {**base, **self.shared, "RAGROUTE_DATA_DIR": str(copy / ".ragroute"), "PYTHONPATH": str(copy),
                "RAGROUTE_PROJECT_DIR": str(copy), "PREFECT_HOME": str(copy / ".prefect")}  # fmt: skip

    def start(self, host: str, *command: str) -> subprocess.Popen:
        log = self.home / f"{host}-{command[0]}-{len(self.processes)}.log"
        self.logs.append(log)
        process = _start([str(BIN / command[0]), *command[1:]], self.env(host), log, cwd=self.home / host)
        self.processes.append(process)
        return process

    def run(self, host: str, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / command[0]), *command[1:]], env=self.env(host), cwd=self.home / host,
                              capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def hosts(running_services: Settings, postgres_dsn: str, tmp_path_factory):
    home = tmp_path_factory.mktemp("two-hosts")
    for host in ("host-a", "host-b", "host-c"):
        _working_copy(home / host)
    lake = lake_target(postgres_dsn, "two_hosts_lake", home / "shared")
    prefect_db = create_database(postgres_dsn, "two_hosts_prefect")
    params = dict(part.split("=", 1) for part in prefect_db.split())
    url = f"http://127.0.0.1:{PORT}/api"
    shared = {
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
        "WEAVIATE_URL": running_services.weaviate_http_url,
        "WEAVIATE_GRPC_URL": f"http://127.0.0.1:{running_services.weaviate_grpc_port}",
        "OPENAI_BASE_URL": running_services.llm_base_url,
        "RAGROUTE_WAREHOUSE": lake.attach,
        "RAGROUTE_WAREHOUSE_DATA_PATH": lake.data_path,
        "RAGROUTE_RESULT_STORAGE_PATH": str(home / "shared" / "prefect-results"),
        # What `make setup` installs on each host (the model file the tokenizer counts with): this machine's.
        "RAGROUTE_LOCAL_DIR": str(running_services.local_dir),
    }
    hosts = Hosts(home, shared)
    server_env = {
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(PORT),
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": (
            f"postgresql+asyncpg://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
        ),
    }
    hosts.shared = {**shared, **server_env}
    try:
        hosts.start("host-a", "prefect", "server", "start", "--no-ui")
        hosts.shared = shared
        _wait_for(lambda: _healthy(url), 180, "the Prefect server (PostgreSQL)", hosts.logs)
        deployed = hosts.run("host-a", "ragroute", "deploy")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        hosts.start("host-a", "ragroute", "worker", "--pool", "cpu")
        hosts.gpu = hosts.start("host-b", "ragroute", "worker", "--pool", "gpu")
        yield hosts
    finally:
        for process in reversed(hosts.processes):
            _stop(process)


def _flow_run(hosts: Hosts, deployment: str, *params: str) -> str:
    started = hosts.run("host-a", "prefect", "deployment", "run", deployment, *params)
    assert started.returncode == 0, started.stdout + started.stderr
    return re.search(r"UUID:\s*([0-9a-f-]{36})", started.stdout).group(1)


def _finished(hosts: Hosts, run_id: str) -> dict:
    import httpx

    def state() -> dict | None:
        run = httpx.get(f"{hosts.shared['PREFECT_API_URL']}/flow_runs/{run_id}", timeout=30).json()
        return run if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    return _wait_for(state, 540, f"flow run {run_id}", hosts.logs)


def _artifacts(hosts: Hosts, flow_run_id: str, key: str) -> list[str]:
    """The data of the flow run's artifacts with this key, from the Prefect server."""
    import httpx

    found = httpx.post(
        f"{hosts.shared['PREFECT_API_URL']}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": [key]}}},
        timeout=30,
    ).json()
    return [str(artifact["data"]) for artifact in found]


def _sql(hosts: Hosts, host: str, query: str) -> list[dict]:
    result = hosts.run(host, "ragroute", "sql", query, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_two_hosts_share_the_warehouse_and_the_llm_cache(hosts: Hosts, tmp_path_factory):
    inbox = hosts.home / "shared" / "inbox"
    inbox.mkdir(parents=True)
    watcher = hosts.start("host-a", "ragroute", "watch", str(inbox), "--collection", COLLECTION)
    name = collection_name(COLLECTION, "all-MiniLM-L6-v2")
    manifest = f"SELECT path, count(*) AS n FROM documents WHERE collection = '{name}' GROUP BY path"
    try:
        _wait_for(lambda: "watching" in hosts.logs[-1].read_text(), 120, "the watcher", hosts.logs)
        (inbox / "berths.txt").write_text(
            "Berth seven takes the ferries. " + "The quay is busy at noon. " * 40
        )
        rows = _wait_for(
            lambda: _sql(hosts, "host-c", manifest), 300, "the reindex on the cpu worker", hosts.logs
        )
        assert rows == [{"path": str((inbox / "berths.txt").resolve()), "n": 1}]
    finally:
        _stop(watcher)
    # Host c's evaluation is the baseline: Self-Route on DuckLake stores its τ and closes the run.
    baseline = hosts.run("host-c", "ragroute", "eval", "--dataset", "mini", "--methods", ",".join(METHODS),
                         "--k", "3", "--limit", str(LIMIT), "--decline-threshold", str(TAU), "--json")  # fmt: skip
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    summary = json.loads(baseline.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed", summary
    tau = summary["decline_threshold"]
    assert (tau["threshold"], tau["source"]) == (TAU, "given"), tau
    assert {row["method"] for row in summary["methods"]} == set(METHODS)
    plan = hosts.home / "shared" / "plan.yaml"
    plan.write_text(
        f"sources:\n  - path: {inbox}\n    collection: {COLLECTION}\n"
        f"evaluations:\n  - dataset: mini\n    methods: [{', '.join(METHODS)}]\n    k: [3]\n    limit: {LIMIT}\n"
        f"    decline_threshold: {TAU}\n"
    )
    first_id = _flow_run(hosts, "nightly/nightly", "--param", f"plan_path={plan}")
    first = _finished(hosts, first_id)
    assert first["state"]["type"] == "COMPLETED", first["state"]
    # The gpu worker on host b ran it; host c sees its rows and host a's, one manifest row per document.
    assert _sql(hosts, "host-c", manifest) == rows
    runs = _sql(
        hosts,
        "host-c",
        "SELECT run_id, host FROM eval_runs WHERE dataset = 'mini' AND status = 'completed' ORDER BY started_at",
    )
    answered = _sql(
        hosts, "host-c", "SELECT count(*) AS n, count(*) FILTER (WHERE NOT cached) AS fresh FROM predictions"
    )
    assert [run["run_id"] for run in runs][:1] == [summary["run_id"]] and len(runs) == 2, runs
    nightly_run = runs[1]["run_id"]
    # Every unit of both runs answered once, Self-Route's with P("unanswerable") from the logprobs.
    assert answered[0]["n"] == 2 * LIMIT * len(METHODS), answered
    assert answered[0]["fresh"] <= LIMIT * len(METHODS), answered  # the nightly's came from host c's answers
    with_prob = _sql(hosts, "host-c", "SELECT count(*) AS n FROM predictions WHERE method = 'self_route' "
                     "AND error IS NULL AND decline_prob IS NOT NULL")  # fmt: skip
    assert with_prob == [{"n": 2 * LIMIT}], with_prob
    taus = _sql(
        hosts, "host-c", "SELECT run_id, threshold, source FROM decline_thresholds ORDER BY chosen_at"
    )
    assert taus == [{"run_id": run["run_id"], "threshold": TAU, "source": "given"} for run in runs], taus
    # The nightly published its summary and compared every method with host c's run: no regression.
    assert any("self_route" in text for text in _artifacts(hosts, first_id, "eval-mini")), first_id
    checks = _sql(hosts, "host-c", "SELECT run_id, baseline_run_id, method, passed FROM regression_checks "
                  "ORDER BY method")  # fmt: skip
    assert checks == [
        {"run_id": nightly_run, "baseline_run_id": summary["run_id"], "method": method, "passed": True}
        for method in METHODS
    ], checks
    # A second nightly run through a third worker (host c): everything is cached, no LLM call.
    _stop(hosts.gpu)
    hosts.start("host-c", "ragroute", "worker", "--pool", "gpu")
    second = _finished(hosts, _flow_run(hosts, "nightly/nightly", "--param", f"plan_path={plan}"))
    assert second["state"]["type"] == "COMPLETED", second["state"]
    again = _sql(
        hosts, "host-c", "SELECT count(*) AS n, count(*) FILTER (WHERE NOT cached) AS fresh FROM predictions"
    )
    assert again[0]["fresh"] == answered[0]["fresh"], (answered, again)  # no prediction needed the LLM
    assert _sql(hosts, "host-c", manifest) == rows
    # The second regression check of the same run replaced its comparisons.
    assert len(_sql(hosts, "host-c", "SELECT * FROM regression_checks")) == len(METHODS)

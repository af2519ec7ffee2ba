"""A CLI run with the local Prefect server up: flows run on it (no temporary server), the terminal shows only
ragroute's own lines, and other libraries' output lands in the log file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from schemas.settings import Settings
from tasks.clients import services

# Text that other libraries write (warnings, logs, progress bars, llama.cpp); none of it belongs on the terminal.
NOISE = re.compile(
    r"Warning|warnings\.warn|Traceback|Loading weights|llama_|INFO|Finished in state|temporary server|it/s\]"
)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ragroute.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def local_prefect(running_services: Settings, tmp_path_factory):
    """The local Prefect server of `ragroute services up`, with a data dir of its own."""
    data_dir = tmp_path_factory.mktemp("quiet-data")
    settings = running_services.model_copy(update={"data_dir": data_dir, "prefect_api_url": None})
    assert services.up(settings, ("prefect",)) == {"prefect": "started"}
    pid = services.running_pid(settings, "prefect")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"RAGROUTE_DATA_DIR": str(data_dir), "COLUMNS": "80"}
    try:
        yield {"env": env, "settings": settings, "url": settings.local_prefect_api_url}
    finally:
        assert services.stop(settings, "prefect")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _flow_runs(url: str, flow: str) -> list[dict]:
    response = httpx.post(f"{url}/flow_runs/filter", json={"flows": {"name": {"any_": [flow]}}}, timeout=30)
    response.raise_for_status()
    return response.json()


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tides.txt").write_text("The tide tables are printed every Monday in the harbour office. " * 40)
    (folder / "cranes.md").write_text(
        "# Cranes\n\n" + "Crane seven lifts forty tonnes at the north quay. " * 40
    )
    return folder


def test_ingests_run_on_the_persistent_server(local_prefect, tmp_path):
    """Ingests with work to do run as flows on the local server; an unchanged folder needs no flow at all."""
    folder, env = _folder(tmp_path), local_prefect["env"]
    first = _cli("ingest", str(folder), "--collection", "QuietPersistent", "--json", env=env)
    assert first.returncode == 0, first.stderr
    (folder / "tides.txt").write_text("The tide tables are printed every Friday in the harbour office. " * 40)
    again = _cli("ingest", str(folder), "--collection", "QuietPersistent", "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["documents_changed"] == 1
    runs = _flow_runs(local_prefect["url"], "ingest")
    assert len(runs) == 2 and {run["state"]["type"] for run in runs} == {"COMPLETED"}
    unchanged = _cli("ingest", str(folder), "--collection", "QuietPersistent", "--json", env=env)
    summary = json.loads(unchanged.stdout.strip().splitlines()[-1])
    assert (summary["documents_seen"], summary["documents_changed"]) == (2, 0)
    assert len(_flow_runs(local_prefect["url"], "ingest")) == 2
    log = local_prefect["settings"].cli_log_file.read_text()
    assert "temporary server" not in log and "no Prefect server running" not in again.stderr


def test_ingest_and_eval_leave_other_libraries_output_in_the_log(local_prefect, tmp_path):
    env, log_file = local_prefect["env"], local_prefect["settings"].cli_log_file
    before = log_file.read_text() if log_file.exists() else ""
    ingest = _cli("ingest", str(_folder(tmp_path)), "--collection", "QuietNoise", env=env)
    assert ingest.returncode == 0, ingest.stderr
    methods = "lc,rag,rag_reorder,self_route"
    evaluate = _cli("eval", "--dataset", "mini", "--methods", methods, "--k", "3", "--limit", "2", env=env)
    assert evaluate.returncode == 0, evaluate.stderr
    terminal = ingest.stderr + evaluate.stderr
    assert not NOISE.search(terminal), terminal
    for method in methods.split(","):  # the table at COLUMNS=80 keeps every name whole
        k = 0 if method == "lc" else 3
        assert re.search(rf"^\s*{method}\s+{k}\s+2\s", evaluate.stderr, re.MULTILINE), evaluate.stderr
    logged = log_file.read_text()[len(before) :]
    assert NOISE.search(logged) and "Finished in state Completed" in logged
    (tmp_path / "docs" / "cranes.md").write_text("# Cranes\n\n" + "Crane two lifts ten tonnes. " * 40)
    verbose = _cli("-v", "ingest", str(tmp_path / "docs"), "--collection", "QuietNoise", env=env)
    assert "Finished in state Completed" in verbose.stderr

"""The CLI's terminal: other libraries' output goes to the log file, the eval table keeps method names whole,
and a running local Prefect server is what flows are pointed at."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

from rich.console import Console

from ragroute.cli import method_table
from schemas import settings as settings_module
from schemas.settings import Settings
from tasks.clients import services

ROWS = [
    {"method": method, "k": 5, "n": 120, "failed": 3, "score": 41.23, "prompt_tokens": 1234567,
     "completion_tokens": 54321, "list_cost_usd": 1.2345, "spent_cost_usd": 0.5432, "token_pct_of_lc": 12.3,
     "answerable_pct": 87.5}
    for method in ("lc", "rag", "rag_reorder", "self_route")
]  # fmt: skip


def test_method_table_keeps_method_names_at_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    Console(file=out, width=80).print(method_table(ROWS))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and "answerable" in text
    rows = [
        line.split()
        for line in text.splitlines()
        if line.split()[:1] in (["lc"], ["rag"], ["rag_reorder"], ["self_route"])
    ]
    assert [row[0] for row in rows] == ["lc", "rag", "rag_reorder", "self_route"]
    assert all(
        row[1:] == ["5", "120", "3", "41.23", "1234567", "1.2345", "0.5432", "12.3", "87.5"] for row in rows
    )


def test_noise_goes_to_the_log_file_and_the_console_to_the_terminal(tmp_path):
    log = tmp_path / "logs" / "ragroute.log"
    script = textwrap.dedent(
        f"""
        import os, subprocess, sys, warnings
        from ragroute.terminal import console, send_noise_to_log
        from pathlib import Path
        send_noise_to_log(Path({str(log)!r}))
        warnings.warn("a library's FutureWarning", FutureWarning)
        os.write(2, b"llama_context: n_ctx_seq from C\\n")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('from a child process\\\\n')"])
        console.print("ragroute's own line")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "ragroute's own line"
    logged = log.read_text()
    for text in ("a library's FutureWarning", "llama_context: n_ctx_seq from C", "from a child process"):
        assert text in logged


def test_flows_use_the_local_prefect_server_while_it_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("RAGROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAGROUTE_PREFECT_PORT", "4911")
    settings_module.get_settings.cache_clear()
    try:
        settings_module.apply_library_environment()
        assert "PREFECT_API_URL" not in os.environ
        pid_file = Settings().prefect_pid_file
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(str(os.getpid()))  # a live process stands in for the server's
        settings_module.apply_library_environment()
        assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4911/api"
    finally:
        # Not monkeypatch.delenv: its undo would put back the value set above, for every later test.
        os.environ.pop("PREFECT_API_URL", None)
        settings_module.get_settings.cache_clear()


def test_prefect_server_is_managed_unless_prefect_api_url_is_set(tmp_path):
    local = Settings(data_dir=tmp_path, prefect_api_url=None, prefect_port=4911)
    prefect = [s for s in services.managed_services(local) if s.name == "prefect"]
    assert prefect and prefect[0].ready_url == "http://127.0.0.1:4911/api/health"
    assert (
        str(tmp_path / "prefect" / "prefect.db") in prefect[0].env["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    )
    external = Settings(data_dir=tmp_path, prefect_api_url="http://prefect.example:4200/api")
    assert "prefect" not in {s.name for s in services.managed_services(external)}

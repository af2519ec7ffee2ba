"""Start and stop the local services as detached processes on loopback, each with a PID file under the run
dir and a log file under the log dir; a service is started only when no external endpoint is configured
(`WEAVIATE_URL`, `OPENAI_BASE_URL`, `PREFECT_API_URL`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from schemas.processes import process_alive
from schemas.settings import Settings
from tasks.clients.services.probes import is_ready, weaviate_nodes
from tasks.clients.services.specs import (
    Service,
    ServiceError,
    llm_service,
    prefect_service,
    weaviate_service,
    weaviate_service_name,
)


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def _log_file(settings: Settings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def running_pid(settings: Settings, name: str) -> int | None:
    """The PID of a service we started that is still alive, else None (a stale PID file is removed)."""
    pid_file = _pid_file(settings, name)
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        pid = None
    if pid is None or not process_alive(pid):
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start(settings: Settings, service: Service) -> str:
    """Start one service unless it already runs; wait until it is ready. Returns 'started' or 'running'."""
    process = launch(settings, service)
    if process is None:
        return "running"
    wait_ready(settings, service, process)
    return "started"


def launch(settings: Settings, service: Service) -> subprocess.Popen | None:
    """Start one service's process without waiting for it; None when it already runs and is ready."""
    if running_pid(settings, service.name) is not None and is_ready(service.ready_url):
        return None
    if not service.requires.exists():
        raise ServiceError(service.missing_hint)
    taken = [f"{port} ({label})" for label, port in service.ports.items() if _port_in_use(service.host, port)]
    if taken:
        raise ServiceError(
            f"cannot start {service.name}: port(s) {', '.join(taken)} on {service.host} already in use by another "
            "process; stop it or choose other ports in the settings"
        )
    for directory in (settings.run_dir, settings.log_dir, settings.data_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for path, text in service.files.items():
        path.write_text(text)
    with _log_file(settings, service.name).open("ab") as log:
        process = subprocess.Popen(
            service.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env},
            start_new_session=True,
        )
    _pid_file(settings, service.name).write_text(str(process.pid))
    return process


def wait_ready(settings: Settings, service: Service, process: subprocess.Popen) -> None:
    """Wait until a launched service answers its readiness URL; stop it and explain when it does not."""
    log_path = _log_file(settings, service.name)
    deadline = time.monotonic() + service.timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _pid_file(settings, service.name).unlink(missing_ok=True)
            raise ServiceError(
                f"{service.name} exited with code {process.returncode} while starting; "
                f"last lines of {log_path}:\n{_log_tail(log_path)}"
            )
        if is_ready(service.ready_url):
            return
        time.sleep(0.5)
    stop(settings, service.name)
    raise ServiceError(
        f"{service.name} was not ready at {service.ready_url} within {service.timeout_s:.0f}s; "
        f"last lines of {log_path}:\n{_log_tail(log_path)}"
    )


def start_weaviate(settings: Settings, nodes: list[int] | None = None) -> dict[str, str]:
    """Start the local Weaviate's nodes (all by default) together, since a cluster's nodes wait for each
    other before they are ready; then wait until the cluster lists every node as healthy."""
    services = [weaviate_service(settings, node) for node in nodes or range(settings.weaviate_nodes)]
    launched = [(service, launch(settings, service)) for service in services]
    for service, process in launched:
        if process is not None:
            wait_ready(settings, service, process)
    if settings.weaviate_nodes > 1:
        _wait_for_members(settings)
    return {service.name: "running" if process is None else "started" for service, process in launched}


def _wait_for_members(settings: Settings) -> None:
    deadline = time.monotonic() + settings.weaviate_start_timeout_s
    while time.monotonic() < deadline:
        healthy = [node for node in weaviate_nodes(settings) if node["status"] == "HEALTHY"]
        if len(healthy) >= settings.weaviate_nodes:
            return
        time.sleep(0.5)
    raise ServiceError(
        f"the Weaviate cluster did not list {settings.weaviate_nodes} healthy nodes within "
        f"{settings.weaviate_start_timeout_s:.0f}s: {weaviate_nodes(settings)}; see {settings.log_dir}/weaviate*.log"
    )


def stop(settings: Settings, name: str, timeout_s: float = 30.0) -> bool:
    """Stop a service we started (its whole process group). Returns whether anything was running."""
    pid = running_pid(settings, name)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.2)
    if process_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while process_alive(pid):
            time.sleep(0.1)
    with contextlib.suppress(ChildProcessError):  # started by this process: collect its exit status
        os.waitpid(pid, 0)
    _pid_file(settings, name).unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def up(settings: Settings, names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Start every managed service (or only those `names`: weaviate, llm, prefect); returns each one's state
    ('started' or 'running'), every Weaviate node under its own name."""
    states = start_weaviate(settings) if settings.weaviate_is_local and _chosen("weaviate", names) else {}
    if settings.llm_is_local and _chosen("llm", names):
        states["llm"] = start(settings, llm_service(settings))
    if settings.prefect_is_local and _chosen("prefect", names):
        states["prefect"] = start(settings, prefect_service(settings))
    return states


def _chosen(name: str, names: tuple[str, ...] | None) -> bool:
    return names is None or name in names


def _nodes_with_pid_files(settings: Settings) -> list[int]:
    """Nodes of a local Weaviate that have a PID file (running, or killed since)."""
    names = {path.stem for path in settings.run_dir.glob("weaviate*.pid")}
    return [node for node in range(10) if weaviate_service_name(node) in names]


def managed_weaviate_nodes(settings: Settings) -> list[int]:
    """The local Weaviate's nodes: those the settings ask for plus any other one that was started."""
    return sorted(set(range(settings.weaviate_nodes)) | set(_nodes_with_pid_files(settings)))


def down(settings: Settings) -> dict[str, bool]:
    """Stop every service ragroute started (the Prefect server, the LLM, every Weaviate node); returns whether
    each one was running."""
    names = ["prefect", "llm"] + [weaviate_service_name(node) for node in managed_weaviate_nodes(settings)]
    return {name: stop(settings, name) for name in names}

"""Start, stop and inspect the local services: a Weaviate server and llama.cpp's OpenAI-compatible server.

Each runs on loopback as a detached process with a PID file and a log file under the data dir. A service is
started only when no external endpoint is configured (`WEAVIATE_URL`, `OPENAI_BASE_URL`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from schemas.errors import RagrouteError
from schemas.settings import Settings
from warehouse.db import backend_status

SETUP_HINT = (
    "run `make setup` to build it, start Weaviate with `docker compose up -d weaviate`, "
    "or point WEAVIATE_URL at an existing cluster"
)


class ServiceError(RagrouteError):
    """A service could not be started, reached or stopped; the message says what to do."""


@dataclass
class Service:
    name: str
    argv: list[str]
    host: str
    requires: Path
    ready_url: str
    ports: dict[str, int]
    timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    missing_hint: str = ""


def weaviate_service(settings: Settings) -> Service:
    """The single-node Weaviate server, configured the way an embedded node is."""
    base = settings.weaviate_http_port
    ports = {
        "RAGROUTE_WEAVIATE_HTTP_PORT": base,
        "RAGROUTE_WEAVIATE_GRPC_PORT": settings.weaviate_grpc_port,
        "gossip (http port + 1)": base + 1,
        "data (http port + 2)": base + 2,
        "raft (http port + 3)": base + 3,
        "raft rpc (http port + 4)": base + 4,
        "profiling (http port + 5)": base + 5,
    }
    env = {
        "PERSISTENCE_DATA_PATH": str(settings.data_dir / "weaviate"),
        "BACKUP_FILESYSTEM_PATH": str(settings.data_dir / "weaviate-backups"),
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_MODULES": "backup-filesystem",
        "QUERY_DEFAULTS_LIMIT": "25",
        "QUERY_MAXIMUM_RESULTS": str(settings.weaviate_query_maximum_results),
        "DISABLE_TELEMETRY": "true",
        "LOG_LEVEL": "warning",
        "GRPC_PORT": str(settings.weaviate_grpc_port),
        "CLUSTER_HOSTNAME": "ragroute-node",
        "CLUSTER_IN_LOCALHOST": "true",
        "CLUSTER_BIND_ADDR": settings.weaviate_host,
        "CLUSTER_ADVERTISE_ADDR": settings.weaviate_host,
        "CLUSTER_GOSSIP_BIND_PORT": str(base + 1),
        "CLUSTER_DATA_BIND_PORT": str(base + 2),
        "RAFT_PORT": str(base + 3),
        "RAFT_INTERNAL_RPC_PORT": str(base + 4),
        "RAFT_BOOTSTRAP_EXPECT": "1",
        "GO_PROFILING_PORT": str(base + 5),
        "GOMAXPROCS": str(os.cpu_count() or 2),
    }
    argv = [
        str(settings.weaviate_binary),
        "--host", settings.weaviate_host,
        "--port", str(base),
        "--scheme", "http",
    ]  # fmt: skip
    return Service(
        name="weaviate",
        argv=argv,
        host=settings.weaviate_host,
        requires=settings.weaviate_binary,
        ready_url=f"{settings.weaviate_http_url}/v1/.well-known/ready",
        ports=ports,
        timeout_s=settings.weaviate_start_timeout_s,
        env=env,
        missing_hint=f"Weaviate server binary not found at {settings.weaviate_binary}: {SETUP_HINT}",
    )


def llm_service(settings: Settings) -> Service:
    """llama-cpp-python's OpenAI-compatible server with the local SmolLM2 model."""
    argv = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(settings.llm_model_file),
        "--model_alias", settings.llm_model,
        "--host", settings.llm_host,
        "--port", str(settings.llm_port),
        "--n_ctx", str(settings.llm_context_tokens),
        "--n_threads", str(settings.llm_threads),
    ]  # fmt: skip
    return Service(
        name="llm",
        argv=argv,
        host=settings.llm_host,
        requires=settings.llm_model_file,
        ready_url=f"{settings.llm_base_url}/models",
        ports={"RAGROUTE_LLM_PORT": settings.llm_port},
        timeout_s=settings.llm_start_timeout_s,
        missing_hint=(
            f"model file not found at {settings.llm_model_file}: run `make setup`, "
            "or point OPENAI_BASE_URL at an OpenAI-compatible endpoint"
        ),
    )


def managed_services(settings: Settings) -> list[Service]:
    """The services ragroute runs itself: those without an external endpoint configured."""
    services = []
    if settings.weaviate_is_local:
        services.append(weaviate_service(settings))
    if settings.llm_is_local:
        services.append(llm_service(settings))
    return services


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.pid"


def _log_file(settings: Settings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def running_pid(settings: Settings, name: str) -> int | None:
    """The PID of a service we started that is still alive, else None (a stale PID file is removed)."""
    pid_file = _pid_file(settings, name)
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pid_file.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    return pid


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _is_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start(settings: Settings, service: Service) -> str:
    """Start one service unless it already runs; wait until it is ready. Returns 'started' or 'running'."""
    if running_pid(settings, service.name) is not None and _is_ready(service.ready_url):
        return "running"
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
    log_path = _log_file(settings, service.name)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            service.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **service.env},
            start_new_session=True,
        )
    _pid_file(settings, service.name).write_text(str(process.pid))
    deadline = time.monotonic() + service.timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _pid_file(settings, service.name).unlink(missing_ok=True)
            raise ServiceError(
                f"{service.name} exited with code {process.returncode} while starting; "
                f"last lines of {log_path}:\n{_log_tail(log_path)}"
            )
        if _is_ready(service.ready_url):
            return "started"
        time.sleep(0.5)
    stop(settings, service.name)
    raise ServiceError(
        f"{service.name} was not ready at {service.ready_url} within {service.timeout_s:.0f}s; "
        f"last lines of {log_path}:\n{_log_tail(log_path)}"
    )


def stop(settings: Settings, name: str, timeout_s: float = 30.0) -> bool:
    """Stop a service we started (its whole process group). Returns whether anything was running."""
    pid = running_pid(settings, name)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    _pid_file(settings, name).unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(settings: Settings) -> dict[str, str]:
    """Start every managed service; returns each one's state ('started' or 'running')."""
    return {service.name: start(settings, service) for service in managed_services(settings)}


def down(settings: Settings) -> dict[str, bool]:
    """Stop every service ragroute started; returns whether each one was running."""
    return {name: stop(settings, name) for name in ("llm", "weaviate")}


def weaviate_version(settings: Settings) -> str | None:
    """The server version from `/v1/meta`, or None when Weaviate cannot be reached."""
    headers = {}
    if settings.weaviate_api_key:
        headers["Authorization"] = f"Bearer {settings.weaviate_api_key.get_secret_value()}"
    try:
        response = httpx.get(f"{settings.weaviate_http_url}/v1/meta", headers=headers, timeout=5.0)
        response.raise_for_status()
        return response.json().get("version")
    except (httpx.HTTPError, ValueError):
        return None


def llm_models(settings: Settings) -> list[str]:
    """The model ids the LLM endpoint serves, or [] when it cannot be reached."""
    try:
        response = httpx.get(
            f"{settings.llm_base_url}/models",
            headers={"Authorization": f"Bearer {settings.llm_api_key}"},
            timeout=5.0,
        )
        response.raise_for_status()
        return [model["id"] for model in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError):
        return []


def status(settings: Settings) -> dict[str, dict]:
    """Where each service is and what it serves."""
    models = llm_models(settings)
    return {
        "weaviate": {
            "url": settings.weaviate_http_url,
            "version": weaviate_version(settings),
            "managed": settings.weaviate_is_local,
            "pid": running_pid(settings, "weaviate"),
        },
        "llm": {
            "base_url": settings.llm_base_url,
            "model": settings.llm_model if settings.llm_model in models else (models[0] if models else None),
            "models": models,
            "managed": settings.llm_is_local,
            "pid": running_pid(settings, "llm"),
        },
        "warehouse": backend_status(settings.warehouse_target),
    }

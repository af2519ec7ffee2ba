"""Start, stop and inspect the local services: a Weaviate server, llama.cpp's OpenAI-compatible server and a
Prefect server (SQLite under the data dir) that CLI flows run against.

Each runs on loopback as a detached process with a PID file and a log file under the data dir. A service is
started only when no external endpoint is configured (`WEAVIATE_URL`, `OPENAI_BASE_URL`, `PREFECT_API_URL`).
"""

from __future__ import annotations

import contextlib
import json
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
    files: dict[Path, str] = field(default_factory=dict)  # written before the process starts
    missing_hint: str = ""


NODE_PORT_STRIDE = 10  # node i listens on the HTTP port + 10·i (its cluster ports above it) and gRPC port + i


def weaviate_node_name(node: int) -> str:
    """The node's name in the cluster (CLUSTER_HOSTNAME); node 0 keeps the single server's name."""
    return "ragroute-node" if node == 0 else f"ragroute-node-{node}"


def weaviate_service_name(node: int) -> str:
    """The node's name for PID and log files: `weaviate` for node 0, `weaviate-<i>` for the others."""
    return "weaviate" if node == 0 else f"weaviate-{node}"


def weaviate_http_port(settings: Settings, node: int) -> int:
    return settings.weaviate_http_port + NODE_PORT_STRIDE * node


def _raft_port(settings: Settings, node: int) -> int:
    return weaviate_http_port(settings, node) + 3


def _cluster_env(settings: Settings, node: int) -> dict[str, str]:
    """How a node of a local cluster finds the others: gossip through node 0, Raft among all of them."""
    nodes = settings.weaviate_nodes
    if nodes == 1:
        return {"RAFT_BOOTSTRAP_EXPECT": "1"}
    env = {
        "RAFT_JOIN": ",".join(f"{weaviate_node_name(i)}:{_raft_port(settings, i)}" for i in range(nodes)),
        "RAFT_BOOTSTRAP_EXPECT": str(nodes),
    }
    if node > 0:
        env["CLUSTER_JOIN"] = f"{settings.weaviate_host}:{weaviate_http_port(settings, 0) + 1}"
    return env


def weaviate_service(settings: Settings, node: int = 0) -> Service:
    """One Weaviate server (node 0 of `settings.weaviate_nodes`), configured the way an embedded node is."""
    base = weaviate_http_port(settings, node)
    grpc = settings.weaviate_grpc_port + node
    ports = {
        "RAGROUTE_WEAVIATE_HTTP_PORT" + (f" + {NODE_PORT_STRIDE * node}" if node else ""): base,
        "RAGROUTE_WEAVIATE_GRPC_PORT" + (f" + {node}" if node else ""): grpc,
        "gossip (http port + 1)": base + 1,
        "data (http port + 2)": base + 2,
        "raft (http port + 3)": base + 3,
        "raft rpc (http port + 4)": base + 4,
        "profiling (http port + 5)": base + 5,
    }
    data = settings.data_dir / ("weaviate" if node == 0 else f"weaviate-{node}")
    env = {
        "PERSISTENCE_DATA_PATH": str(data),
        "BACKUP_FILESYSTEM_PATH": str(settings.data_dir / "weaviate-backups"),
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
        "DEFAULT_VECTORIZER_MODULE": "none",
        "ENABLE_MODULES": "backup-filesystem",
        "QUERY_DEFAULTS_LIMIT": "25",
        "QUERY_MAXIMUM_RESULTS": str(settings.weaviate_query_maximum_results),
        "DISABLE_TELEMETRY": "true",
        "LOG_LEVEL": "warning",
        "GRPC_PORT": str(grpc),
        "CLUSTER_HOSTNAME": weaviate_node_name(node),
        "CLUSTER_IN_LOCALHOST": "true",
        "CLUSTER_BIND_ADDR": settings.weaviate_host,
        "CLUSTER_ADVERTISE_ADDR": settings.weaviate_host,
        "CLUSTER_GOSSIP_BIND_PORT": str(base + 1),
        "CLUSTER_DATA_BIND_PORT": str(base + 2),
        "RAFT_PORT": str(base + 3),
        "RAFT_INTERNAL_RPC_PORT": str(base + 4),
        "GO_PROFILING_PORT": str(base + 5),
        "GOMAXPROCS": str(os.cpu_count() or 2),
        **_cluster_env(settings, node),
    }
    argv = [
        str(settings.weaviate_binary),
        "--host", settings.weaviate_host,
        "--port", str(base),
        "--scheme", "http",
    ]  # fmt: skip
    return Service(
        name=weaviate_service_name(node),
        argv=argv,
        host=settings.weaviate_host,
        requires=settings.weaviate_binary,
        ready_url=f"http://{settings.weaviate_host}:{base}/v1/.well-known/ready",
        ports=ports,
        timeout_s=settings.weaviate_start_timeout_s,
        env=env,
        missing_hint=f"Weaviate server binary not found at {settings.weaviate_binary}: {SETUP_HINT}",
    )


def weaviate_services(settings: Settings) -> list[Service]:
    """Every node of the local Weaviate (one unless `weaviate_nodes` asks for a cluster)."""
    return [weaviate_service(settings, node) for node in range(settings.weaviate_nodes)]


def llm_service(settings: Settings) -> Service:
    """llama-cpp-python's OpenAI-compatible server with the local model (`llm_model_file`), under two aliases:
    the model name, and `llm_logprobs_model` loaded with `logits_all` for requests that want logprobs (the
    server swaps between them, ~0.3 s; see `Settings.llm_logprobs_model`)."""
    model = {
        "model": str(settings.llm_model_path),
        "n_ctx": settings.local_llm_context_tokens,
        "n_threads": settings.llm_threads,
    }
    models = [model | {"model_alias": settings.llm_model, "logits_all": False}]
    if settings.llm_logprobs:
        models.append(model | {"model_alias": settings.llm_logprobs_model, "logits_all": True})
    config = settings.run_dir / "llm-server.json"
    return Service(
        name="llm",
        argv=[sys.executable, "-m", "llama_cpp.server", "--config_file", str(config)],
        host=settings.llm_host,
        requires=settings.llm_model_path,
        ready_url=f"{settings.llm_base_url}/models",
        ports={"RAGROUTE_LLM_PORT": settings.llm_port},
        timeout_s=settings.llm_start_timeout_s,
        files={config: json.dumps({"host": settings.llm_host, "port": settings.llm_port, "models": models})},
        # llama.cpp's threads are OpenMP threads: the one-thread limit set for tesseract would halve its speed.
        env={"OMP_THREAD_LIMIT": str(settings.llm_threads)},
        missing_hint=(
            f"model file not found at {settings.llm_model_path}: run `make setup`, "
            "or point OPENAI_BASE_URL at an OpenAI-compatible endpoint"
        ),
    )


def prefect_service(settings: Settings) -> Service:
    """A Prefect server with its SQLite database under the data dir; its UI is at the API URL without `/api`."""
    home = settings.data_dir / "prefect"
    argv = [
        sys.executable, "-m", "prefect", "server", "start",
        "--host", settings.prefect_host,
        "--port", str(settings.prefect_port),
        "--analytics-off",
    ]  # fmt: skip
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_API_URL": settings.local_prefect_api_url,
    }
    return Service(
        name="prefect",
        argv=argv,
        host=settings.prefect_host,
        requires=Path(sys.executable),
        ready_url=f"{settings.local_prefect_api_url}/health",
        ports={"RAGROUTE_PREFECT_PORT": settings.prefect_port},
        timeout_s=settings.prefect_start_timeout_s,
        env=env,
    )


def managed_services(settings: Settings) -> list[Service]:
    """The services ragroute runs itself: those without an external endpoint configured."""
    services = weaviate_services(settings) if settings.weaviate_is_local else []
    if settings.llm_is_local:
        services.append(llm_service(settings))
    if settings.prefect_is_local:
        services.append(prefect_service(settings))
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
    process = launch(settings, service)
    if process is None:
        return "running"
    wait_ready(settings, service, process)
    return "started"


def launch(settings: Settings, service: Service) -> subprocess.Popen | None:
    """Start one service's process without waiting for it; None when it already runs and is ready."""
    if running_pid(settings, service.name) is not None and _is_ready(service.ready_url):
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
        if _is_ready(service.ready_url):
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


def _weaviate_get(settings: Settings, path: str) -> dict:
    """GET a Weaviate REST endpoint (with the API key when one is set); raises httpx errors."""
    headers = {}
    if settings.weaviate_api_key:
        headers["Authorization"] = f"Bearer {settings.weaviate_api_key.get_secret_value()}"
    response = httpx.get(f"{settings.weaviate_http_url}{path}", headers=headers, timeout=5.0)
    response.raise_for_status()
    return response.json()


def weaviate_version(settings: Settings) -> str | None:
    """The server version from `/v1/meta`, or None when Weaviate cannot be reached."""
    try:
        return _weaviate_get(settings, "/v1/meta").get("version")
    except (httpx.HTTPError, ValueError):
        return None


def weaviate_nodes(settings: Settings) -> list[dict]:
    """The cluster's nodes as the server lists them (`/v1/nodes`: name and status), or [] when unreachable."""
    try:
        nodes = _weaviate_get(settings, "/v1/nodes").get("nodes", [])
        return [{"name": n["name"], "status": n.get("status")} for n in nodes]
    except (httpx.HTTPError, ValueError, KeyError):
        return []


def _node_status(settings: Settings) -> list[dict]:
    """One entry per node: name, status and, for nodes ragroute started, pid. A managed node the server does
    not list (or that cannot be asked) is DOWN when its process is gone, else UNREACHABLE."""
    listed = {node["name"]: node for node in weaviate_nodes(settings)}
    if not settings.weaviate_is_local:
        return [{**node, "pid": None} for node in listed.values()]
    entries = []
    for node in managed_weaviate_nodes(settings):
        name, pid = weaviate_node_name(node), running_pid(settings, weaviate_service_name(node))
        status = listed.pop(name, {}).get("status") or ("UNREACHABLE" if pid else "DOWN")
        entries.append({"name": name, "status": status, "pid": pid})
    return entries + [{**node, "pid": None} for node in listed.values()]


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


def prefect_url(settings: Settings) -> str:
    """The Prefect API flows run against: `PREFECT_API_URL`, else the local server's."""
    return settings.prefect_api_url or settings.local_prefect_api_url


def prefect_version(settings: Settings) -> str | None:
    """The Prefect server's version, or None when it cannot be reached."""
    try:
        response = httpx.get(f"{prefect_url(settings)}/admin/version", timeout=5.0)
        response.raise_for_status()
        return str(response.json())
    except (httpx.HTTPError, ValueError):
        return None


def _profile_record(settings: Settings) -> dict:
    """The endpoint profile (window, tokenizer and their sources) with the lines a person reads."""
    from tasks.clients.profile import endpoint_profile

    profile = endpoint_profile(settings)
    return profile.record() | {"lines": profile.lines()}


def status(settings: Settings) -> dict[str, dict]:
    """Where each service is and what it serves."""
    models = llm_models(settings)
    return {
        "weaviate": {
            "url": settings.weaviate_http_url,
            "version": weaviate_version(settings),
            "managed": settings.weaviate_is_local,
            "pid": running_pid(settings, "weaviate"),
            "nodes": _node_status(settings),
        },
        "llm": {
            "base_url": settings.llm_base_url,
            "model": settings.llm_model if settings.llm_model in models else (models[0] if models else None),
            "models": models,
            "managed": settings.llm_is_local,
            "pid": running_pid(settings, "llm"),
            "profile": _profile_record(settings) if models else None,
        },
        "prefect": {
            "api_url": prefect_url(settings),
            "ui_url": prefect_url(settings).removesuffix("/api"),
            "version": prefect_version(settings),
            "managed": settings.prefect_is_local,
            "pid": running_pid(settings, "prefect"),
        },
        "warehouse": backend_status(settings.warehouse_target),
    }

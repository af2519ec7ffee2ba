"""What each local service is: its command line, ports, environment, files and readiness URL (a Weaviate
server or cluster node, llama.cpp's OpenAI-compatible server, a Prefect server with SQLite under the data dir).

`supervision` starts and stops them, `probes` asks them what they serve, `overview` reports where they are.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import RagrouteError
from schemas.settings import Settings

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

"""The local services: a Weaviate server (or cluster), llama.cpp's OpenAI-compatible server and a Prefect
server that CLI flows run against.

`specs` says what each one is, `supervision` starts and stops them, `probes` asks a running one what it
serves and `overview` reports where each one is. The names below are the package's interface.
"""

from tasks.clients.services.overview import status
from tasks.clients.services.probes import (
    llm_models,
    prefect_url,
    prefect_version,
    weaviate_nodes,
    weaviate_version,
)
from tasks.clients.services.specs import (
    Service,
    ServiceError,
    llm_service,
    managed_services,
    prefect_service,
    weaviate_http_port,
    weaviate_node_name,
    weaviate_service,
    weaviate_service_name,
    weaviate_services,
)
from tasks.clients.services.supervision import (
    down,
    launch,
    managed_weaviate_nodes,
    running_pid,
    start,
    start_weaviate,
    stop,
    up,
    wait_ready,
)

__all__ = [
    "Service",
    "ServiceError",
    "down",
    "launch",
    "llm_models",
    "llm_service",
    "managed_services",
    "managed_weaviate_nodes",
    "prefect_service",
    "prefect_url",
    "prefect_version",
    "running_pid",
    "start",
    "start_weaviate",
    "status",
    "stop",
    "up",
    "wait_ready",
    "weaviate_http_port",
    "weaviate_node_name",
    "weaviate_nodes",
    "weaviate_service",
    "weaviate_service_name",
    "weaviate_services",
    "weaviate_version",
]

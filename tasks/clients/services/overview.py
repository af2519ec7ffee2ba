"""Where each service is and what it serves: the report behind `ragroute services status` and `/healthz`."""

from __future__ import annotations

from schemas.settings import Settings
from tasks.clients.services.probes import (
    llm_models,
    prefect_url,
    prefect_version,
    weaviate_nodes,
    weaviate_version,
)
from tasks.clients.services.specs import weaviate_node_name, weaviate_service_name
from tasks.clients.services.supervision import managed_weaviate_nodes, running_pid
from tasks.ingestion.ocr_tools import ocr_tools_status
from warehouse.db import backend_status


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
        "ocr": ocr_tools_status(settings),  # tesseract's language data and poppler on this machine
    }

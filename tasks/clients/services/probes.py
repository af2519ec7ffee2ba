"""What a running service answers: whether it is ready, Weaviate's version and nodes, the models an LLM
endpoint serves, the Prefect server's version. Each probe returns None or [] when the service cannot be reached."""

from __future__ import annotations

import httpx

from schemas.settings import Settings


def is_ready(url: str) -> bool:
    """Whether a readiness URL answers 200."""
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


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

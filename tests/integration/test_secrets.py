"""Secrets: API keys never reach logs, DuckDB, Prefect's database, the LLM cache or a report; and a Weaviate
cluster that requires an API key works with `WEAVIATE_API_KEY` and refuses ragroute without it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect.testing.utilities import prefect_test_harness
from pydantic import SecretStr
from weaviate.exceptions import WeaviateBaseError

from flows.evaluate import evaluate_flow
from flows.ingest import ingest_flow
from schemas.collection import collection_name
from schemas.evaluation import EvalConfig
from schemas.settings import Settings, get_settings
from tasks.clients import services
from tasks.clients.vectorstore import connect
from tasks.ingestion.run import ingest
from tasks.testbed.corpus import body
from tests.support.readers import files_containing

# The second Weaviate: HTTP 19110 (cluster ports 19111-19115), gRPC 19120.
SECURED_HTTP_PORT, SECURED_GRPC_PORT = 19110, 19120


@pytest.fixture
def planted_keys(running_services, monkeypatch) -> Iterator[str]:
    """Fake keys in the environment, read through the settings; the LLM endpoint is the local server under
    another URL, so the answers are not in the response cache and every request carries the key."""
    secret = uuid.uuid4().hex
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-test-PLANTED-{secret}")
    monkeypatch.setenv("RAGROUTE_API_KEY", f"api-PLANTED-{secret}")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://localhost:{running_services.llm_port}/v1")
    get_settings.cache_clear()
    yield secret
    monkeypatch.undo()
    get_settings.cache_clear()


def test_keys_never_leak(planted_keys, running_services, tmp_path, capfd):
    secret = planted_keys
    settings = get_settings()
    assert settings.llm_api_key == f"sk-test-PLANTED-{secret}"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.txt").write_text(body("lantern"))
    (docs / "empty.txt").write_text("")
    with prefect_test_harness(server_startup_timeout=180):
        prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1]).parent
        ingested = ingest_flow(str(docs), collection="Secrets")
        config = EvalConfig(dataset="mini", methods=["rag"], k=[1], limit=1)
        evaluated = evaluate_flow(config)
        leaks_in_prefect = files_containing(prefect_db, secret.encode())
    assert ingested.chunks_written > 0 and ingested.documents_failed == 1
    assert evaluated.llm_calls > 0 and evaluated.errors == 0  # real requests, each with the key
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragroute.cli",
            "report",
            "--out",
            str(settings.data_dir / "secrets-report.html"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    status = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "services", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    assert (settings.data_dir / "secrets-report.html").stat().st_size > 10_000
    assert status.returncode == 0 and f'"model": "{settings.llm_model}"' in status.stdout
    captured = capfd.readouterr()
    outputs = captured.out + captured.err + report.stdout + report.stderr + status.stdout + status.stderr
    assert secret not in outputs
    assert leaks_in_prefect == []
    # The data dir: the DuckDB file, the LLM cache, the services' logs and data, Prefect's home, the report.
    assert files_containing(settings.data_dir, secret.encode()) == []


@pytest.fixture(scope="module")
def secured_weaviate(running_services, tmp_path_factory) -> Iterator[str]:
    """A second Weaviate server that admits only API-key holders; yields the key and stops the server."""
    key = f"wv-test-PLANTED-{uuid.uuid4().hex}"
    node = running_services.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("secured-weaviate"),
            "weaviate_http_port": SECURED_HTTP_PORT,
            "weaviate_grpc_port": SECURED_GRPC_PORT,
        }
    )
    service = services.weaviate_service(node)
    service.env |= {
        "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "false",
        "AUTHENTICATION_APIKEY_ENABLED": "true",
        "AUTHENTICATION_APIKEY_ALLOWED_KEYS": key,
        "AUTHENTICATION_APIKEY_USERS": "ragroute",
    }
    services.start(node, service)
    try:
        yield key
    finally:
        services.stop(node, "weaviate")


def _remote(settings: Settings, key: str | None) -> Settings:
    return settings.model_copy(
        update={
            "weaviate_url": f"http://127.0.0.1:{SECURED_HTTP_PORT}",
            "weaviate_grpc_url": f"http://127.0.0.1:{SECURED_GRPC_PORT}",
            "weaviate_api_key": SecretStr(key) if key else None,
        }
    )


def test_secured_weaviate_works_with_the_key(running_services, secured_weaviate, tmp_path):
    remote = _remote(running_services, secured_weaviate)
    assert services.weaviate_version(remote) == running_services.weaviate_version.removeprefix("v")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "harbour.txt").write_text(body("lantern"))
    summary = ingest(docs, remote, collection="Secured")
    assert summary.status == "completed" and summary.chunks_written > 0
    with connect(remote) as client:
        collection = client.collections.use(collection_name("Secured", remote.embedding_model))
        texts = [o.properties["text"] for o in collection.iterator()]
    assert len(texts) == summary.chunks_written and any("LANTERN-7" in text for text in texts)
    with connect(running_services) as client:  # it went to the secured cluster, not the local server
        assert not client.collections.exists(collection_name("Secured", remote.embedding_model))
    assert files_containing(running_services.data_dir, secured_weaviate.encode()) == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "anonymous access not enabled. Please authenticate through one of the available methods"),
        ("wv-wrong-key", "unauthorized: invalid api key"),
    ],
)
def test_secured_weaviate_refuses_without_the_key(running_services, secured_weaviate, key, message):
    remote = _remote(running_services, key)
    assert services.weaviate_version(remote) is None
    with pytest.raises(WeaviateBaseError) as error:
        connect(remote).close()
    assert "401" in str(error.value) and message in str(error.value)

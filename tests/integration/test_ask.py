"""`ragroute ask` and the HTTP API against real Weaviate, the real local model and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr

from ragroute.api import create_app
from schemas.collection import collection_name
from schemas.settings import get_settings
from tasks.clients.vectorstore import connect, ensure_chunk_collection
from tasks.ingestion.run import ingest
from tasks.routing.ask import NOT_IN_DOCUMENTS, Asker
from tasks.testbed.corpus import body, text_pdf

FACT = "The archive of Velmora keeps the copper lantern in room 47."
QUESTION = "In which room does the archive of Velmora keep the copper lantern?"

# Schema-driven requests go to a collection that does not exist, so each one is answered without the LLM.
fuzz_app = create_app(
    get_settings().model_copy(update={"collection": "NoSuchCollection", "api_rate_limit_per_minute": 100_000})
)
schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def corpus(running_services, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ask")
    text_pdf(folder / "archive.pdf", [body("ferry"), f"{PARAGRAPHS} {FACT} {PARAGRAPHS}"])
    (folder / "weather.txt").write_text(
        "The weather station measured strong winds over the northern cliffs. " * 40
    )
    summary = ingest(folder, running_services, collection="Ask")
    assert summary.status == "completed"
    return running_services


PARAGRAPHS = "Volunteers repainted the fishing boats before the summer fair. " * 6


def _asks(settings, ask_id: str):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "SELECT route, question, prompt_tokens, citations, error, not_in_documents FROM asks WHERE ask_id = ?",
            [ask_id],
        ).fetchone()


def test_planted_fact_is_cited_with_document_and_page(corpus):
    result = Asker(corpus, "Ask").ask(QUESTION, method="rag", k=3)
    assert result.error is None and result.route == "rag" and result.answer
    assert result.citations, result
    top = result.citations[0]
    assert top.source_path.endswith("archive.pdf") and top.page == 2
    assert any("Velmora" in sentence for sentence in top.evidence)
    assert not result.not_in_documents
    route, question, prompt_tokens, citations, error, not_in_documents = _asks(corpus, result.ask_id)
    assert (route, question, error, not_in_documents) == ("rag", QUESTION, None, False) and prompt_tokens > 0
    assert "archive.pdf" in citations


def test_question_about_something_absent_says_the_documents_do_not(corpus):
    result = Asker(corpus, "Ask").ask("What colour is the flag of Quindo?", method="self_route", k=2)
    assert result.error is None and result.route in ("rag", "lc") and result.llm_requests >= 1
    assert (result.answer, result.not_in_documents, result.citations) == (NOT_IN_DOCUMENTS, True, []), result
    assert len(result.retrieved) == 2
    row = _asks(corpus, result.ask_id)
    assert (row[0], row[5]) == (result.route, True)
    with duckdb.connect(str(corpus.warehouse_path), read_only=True) as con:
        day = con.execute(
            "SELECT sum(asks), sum(answered_by_rag) + sum(answered_by_lc), sum(not_in_documents) FROM asks_summary"
        ).fetchone()
    assert day[0] >= 2 and day[1] >= 2 and day[2] >= 1


def test_empty_collection_says_the_documents_do_not_without_the_model(running_services):
    with connect(running_services) as client:
        ensure_chunk_collection(
            client, collection_name("AskEmpty", running_services.embedding_model), running_services
        )
    asker = Asker(running_services, "AskEmpty")
    for method, route in (("rag", "rag"), ("self_route", "rag"), ("lc", "lc")):
        result = asker.ask("Who kept the lighthouse before Edith Marlowe?", method=method)
        assert (result.answer, result.not_in_documents, result.route) == (NOT_IN_DOCUMENTS, True, route)
        assert result.llm_requests == 0 and result.prompt_tokens == 0 and result.error is None
        assert result.citations == [] and result.retrieved == []
    body = (
        TestClient(create_app(running_services))
        .post("/ask", json={"question": "Who kept the lighthouse?", "collection": "AskEmpty"})
        .json()
    )
    assert (body["answer"], body["not_in_documents"], body["citations"]) == (NOT_IN_DOCUMENTS, True, [])


def test_api_answers_and_rejects_bad_requests(corpus):
    client = TestClient(create_app(corpus))
    assert client.get("/healthz").json()["status"] == "ok"
    assert "/ask" in client.get("/openapi.json").json()["paths"]
    answer = client.post("/ask", json={"question": QUESTION, "collection": "Ask", "method": "rag", "k": 3})
    assert answer.status_code == 200, answer.text
    assert answer.json()["citations"][0]["source_path"].endswith("archive.pdf")
    assert client.post("/ask", json={"question": "x" * 20_000}).status_code == 413
    assert (
        client.post("/ask", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.post("/ask", json={"question": "   "}).status_code == 422
    assert client.post("/ask", json={"question": "q", "k": 0}).status_code == 422
    assert client.post("/ask", json={"question": "q", "surprise": 1}).status_code == 422
    assert client.post("/ask", json={"question": "q", "collection": "Missing"}).status_code == 400


def test_api_key_and_rate_limit(corpus):
    keyed = TestClient(create_app(corpus.model_copy(update={"api_key": SecretStr("s3cret")})))
    assert keyed.post("/ask", json={"question": "q", "collection": "Missing"}).status_code == 401
    ok = keyed.post("/ask", json={"question": "q", "collection": "Missing"}, headers={"X-API-Key": "s3cret"})
    assert ok.status_code == 400
    limited = TestClient(create_app(corpus.model_copy(update={"api_rate_limit_per_minute": 2})))
    codes = [limited.post("/ask", json={"question": "q", "k": 0}).status_code for _ in range(3)]
    assert codes == [422, 422, 429]


@schema.parametrize()
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_anywhere_in_the_schema(case, running_services):
    response = case.call()
    assert response.status_code < 500, (case.body, response.text)


def test_corpus_qa_set_runs_against_the_collection(corpus, tmp_path):
    from schemas.evaluation import EvalConfig
    from tasks.evaluation.corpus import evaluate_corpus
    from tasks.evaluation.datasets import load_jsonl
    from tasks.ingestion.extract import doc_id_for

    archive = next(Path(p) for p in _ingested_paths(corpus) if p.endswith("archive.pdf"))
    qa = tmp_path / "harbour-qa.jsonl"
    qa.write_text(
        json.dumps(
            {
                "id": "q1",
                "question": QUESTION,
                "answers": ["room 47", "47"],
                "gold_doc_ids": [doc_id_for(archive)],
            }
        )
        + "\n"
    )
    questions = load_jsonl(qa).questions
    summary = evaluate_corpus(
        questions, EvalConfig(dataset="harbour-qa", methods=["rag"], k=[2], collection="Ask"), corpus
    )
    assert summary.status == "completed" and summary.methods[0]["n"] == 1
    with duckdb.connect(str(corpus.warehouse_path), read_only=True) as con:
        dataset, route = con.execute(
            "SELECT dataset, route FROM predictions WHERE run_id = ?", [summary.run_id]
        ).fetchone()
        hits = con.execute(
            "SELECT bool_or(has_evidence) FROM retrievals WHERE run_id = ?", [summary.run_id]
        ).fetchone()[0]
    assert (dataset, route, hits) == ("corpus:harbour-qa", "rag", True)


def _ingested_paths(settings) -> list[str]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return [row[0] for row in con.execute("SELECT path FROM documents").fetchall()]

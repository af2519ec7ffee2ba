"""Evaluating an ingested collection without a QA file (real Weaviate, the suite's local model, DuckDB): its
question set (here imported as reviewed questions of the three kinds) is scored per kind with Self-Route's
declines on the unanswerable ones; the questions asked of it are replayed with every method, scored by agreement
with LC's answer and rated by a judge model, whose verdicts and cost are kept apart."""

from __future__ import annotations

import json

import pytest

from schemas.evaluation import EvalConfig
from tasks.evaluation.run import run_evaluation
from tasks.ingestion.run import ingest
from tasks.questions.review import import_questions
from tasks.routing.ask import Asker
from tasks.routing.learned import train_and_store
from tests.support.readers import warehouse_rows

COLLECTION = "Replay"
QUAY = (
    "The stone quay of Orlen was rebuilt in 1911 after a winter storm broke its northern arm. The harbour "
    "master, Ilse Varn, ordered granite from the Teller quarry for the new wall."
)
BEACON = (
    "The Orlen beacon burns on the headland above the quay. Its keeper, Tomas Reyne, lit it every night from "
    "1921 to 1939 and logged each passing ship."
)
QUESTIONS = [
    {"question": "Who ordered granite for the new wall of the Orlen quay?", "answers": ["Ilse Varn"],
     "kind": "answerable"},
    {"question": "Who kept the beacon above the quay that was rebuilt in 1911?", "answers": ["Tomas Reyne"],
     "kind": "multi_hop"},
    {"question": "What colour is the harbour master's boat?", "answers": ["unanswerable"], "kind": "unanswerable"},
]  # fmt: skip


@pytest.fixture(scope="module")
def collection(running_services, tmp_path_factory):
    folder = tmp_path_factory.mktemp("replay")
    (folder / "quay.txt").write_text(QUAY)
    (folder / "beacon.txt").write_text(BEACON)
    assert ingest(folder, running_services, collection=COLLECTION).status == "completed"
    return running_services


def test_a_collections_question_set_is_scored_per_kind(collection, tmp_path):
    settings = collection
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text("\n".join(json.dumps(question) for question in QUESTIONS))
    assert import_questions(settings, reviewed, COLLECTION).imported == 3
    config = EvalConfig(collection=COLLECTION, methods=["lc", "rag", "self_route"], k=[2])
    summary = run_evaluation(config, settings)
    assert (summary.dataset, summary.status) == (f"questions:{COLLECTION}", "completed")
    kinds = {(row["method"], row["kind"]): row["n"] for row in summary.kinds}
    assert kinds == {(m, kind): 1 for m in ("lc", "rag", "self_route") for kind in ("answerable", "multi_hop",
                                                                                    "unanswerable")}  # fmt: skip
    [declines] = summary.declines
    assert (declines["k"], declines["n"], declines["unanswerable"]) == (2, 3, 1)
    assert 0 <= declines["declined"] <= 3
    print(f"\nquestion set: {summary.kinds}\ndeclines: {declines}")


def test_asked_questions_are_replayed_against_lc_and_judged(collection):
    settings = collection.model_copy(update={"judge_model": collection.llm_model})
    asker = Asker(settings, COLLECTION)
    for question in ("Who ordered granite for the quay?", "Who kept the Orlen beacon?"):
        asker.ask(question, method="rag", k=2)
    asker.ask("Who kept the Orlen beacon?", method="rag", k=2)  # asked twice: replayed once
    config = EvalConfig(dataset=f"asks:{COLLECTION}", methods=["lc", "rag"], k=[2], limit=5)
    summary = run_evaluation(config, settings)
    assert summary.status == "completed" and summary.dataset == f"asks:{COLLECTION}"
    by_method = {row["method"]: row for row in summary.methods}
    assert by_method["lc"]["score"] == 100.0 and by_method["rag"]["n"] == by_method["lc"]["n"] == 2
    metrics = warehouse_rows(
        settings, "SELECT DISTINCT metric FROM scores WHERE run_id = ?", [summary.run_id]
    )
    assert metrics == [("agreement_with_lc",)]
    judged = {row["method"]: row for row in summary.judged}
    assert set(judged) == {"lc", "rag"} and all(row["judged"] == 2 for row in judged.values())
    assert all(row["judge_model"] == settings.llm_model for row in judged.values())
    verdicts = warehouse_rows(
        settings, "SELECT count(*), count(verdict) FROM judgments WHERE run_id = ?", [summary.run_id]
    )
    print(f"\nreplayed: {summary.methods}\njudged: {summary.judged}")
    assert verdicts[0][0] == 4
    resumed = run_evaluation(config.model_copy(update={"run_id": summary.run_id}), settings)
    assert resumed.llm_calls == 0 and resumed.judged == summary.judged  # nothing left to answer or judge


def test_a_router_trained_on_the_question_set_routes_eval_and_ask(collection, tmp_path):
    """`router train --collection` learns from the question set's RAG and LC outcomes (the features stored with
    each retrieval); `learned_route` and `ask --method auto` then take the one step of the arm it picks (LC, or
    RAG alone), whose answers the cache already holds."""
    settings = collection
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text("\n".join(json.dumps(question) for question in QUESTIONS))
    import_questions(settings, reviewed, COLLECTION)
    tau = 0.9  # pinned: no run calibrates another, so every Self-Route prompt stays the same
    config = EvalConfig(collection=COLLECTION, methods=["lc", "rag", "self_route"], k=[2], decline_threshold=tau)
    outcomes = run_evaluation(config, settings)
    features = warehouse_rows(
        settings, "SELECT question, retrieved, doc_tokens >= rag_tokens AND rag_tokens > 0 FROM route_features WHERE run_id = ?",
        [outcomes.run_id],
    )  # fmt: skip
    assert sorted(features) == sorted((q["question"], 2, True) for q in QUESTIONS)
    router = train_and_store(settings, f"questions:{COLLECTION}", settings.llm_model)
    assert (router.questions, router.examples) == (3, 3) and outcomes.run_id in router.training_runs

    routed = run_evaluation(config.model_copy(update={"methods": ["learned_route"]}), settings)
    assert routed.status == "completed" and routed.llm_calls == 0  # every step's answer was in the cache
    steps = warehouse_rows(
        settings,
        """SELECT l.route, l.step1_prediction IS NULL,
                  l.prediction = CASE l.route WHEN 'lc' THEN lc.prediction ELSE rag.prediction END
           FROM predictions l
           JOIN predictions rag ON rag.example_id = l.example_id AND rag.run_id = ? AND rag.method = 'rag'
           JOIN predictions lc ON lc.example_id = l.example_id AND lc.run_id = ? AND lc.method = 'lc'
           WHERE l.run_id = ? AND l.method = 'learned_route'""",
        [outcomes.run_id, outcomes.run_id, routed.run_id],
    )
    assert len(steps) == 3 and all(route in ("rag", "lc") and one_step and same for route, one_step, same in steps)

    answer = Asker(settings, COLLECTION, tau).ask(QUESTIONS[1]["question"], method="auto", k=2)
    assert answer.error is None and answer.router_id == router.router_id and answer.features["retrieved"] == 2
    assert answer.route in ("rag", "lc") and answer.llm_requests == 0  # the same steps as the evaluation's

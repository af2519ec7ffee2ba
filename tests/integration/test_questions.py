"""Generated question sets over a real ingested collection (Weaviate, the suite's local model, DuckDB): a first
run generates and validates candidates of every kind and stores them, kept or rejected with their reason; a
second run over the unchanged collection sends no LLM request; a changed document has its questions retired and
regenerated, and only it. Each model- or index-backed rule rejects a crafted bad candidate."""

from __future__ import annotations

import json

import duckdb
import pytest

from schemas.collection import collection_name
from schemas.questions import KINDS, from_sources
from tasks.ingestion.run import ingest
from tasks.questions import prompts
from tasks.questions.follow import follow_collection
from tasks.questions.generate import Generator
from tasks.questions.review import export_questions, kept_questions
from tests.support.cli import run_cli

COLLECTION = "Questions"
HARBOUR = (
    "The Velmora harbour opened in 1887 on the northern coast. Edith Marlowe served as keeper of the Velmora "
    "lighthouse from 1887 to 1902. The lamp of the lighthouse burned whale oil until 1895. Fishing boats from "
    "Velmora landed herring and cod at the stone quay every morning. The harbour office kept a ledger of every "
    "ship that entered, with its cargo and its captain."
)
FERRY = (
    "The ferry to Quindo leaves Velmora at dawn and crosses the strait in three hours. Its captain, Tomas "
    "Brennan, sailed the route for twenty years. The ferry carries mail, sheep and travellers to the island "
    "market. In winter storms the crossing is cancelled and the ferry waits in Velmora harbour."
)
FERRY_CHANGED = FERRY.replace("three hours", "four hours").replace("twenty years", "thirty years")


def _questions(settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "SELECT question_id, kind, outcome, rule, reason, doc_ids, retired_at IS NOT NULL, retired_reason "
            "FROM questions WHERE collection = ? ORDER BY question_id",
            [collection_name(COLLECTION, settings.embedding_model)],
        ).fetchall()


def _doc_ids(settings) -> dict[str, str]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT path, doc_id FROM documents WHERE collection = ?",
            [collection_name(COLLECTION, settings.embedding_model)],
        ).fetchall()
    return {path.rsplit("/", 1)[-1]: doc_id for path, doc_id in rows}


@pytest.fixture(scope="module")
def corpus(running_services, tmp_path_factory):
    folder = tmp_path_factory.mktemp("questions")
    (folder / "harbour.txt").write_text(HARBOUR)
    (folder / "ferry.txt").write_text(FERRY)
    assert ingest(folder, running_services, collection=COLLECTION).status == "completed"
    return running_services, folder


def test_questions_follow_the_collection(corpus, tmp_path):
    settings, folder = corpus
    first = follow_collection(settings, COLLECTION, per_document=1)
    assert first.status == "completed" and first.documents == 2 and first.llm_requests > 0
    assert first.candidates["answerable"] == 2 and first.candidates["unanswerable"] == 2
    stored = _questions(settings)
    assert (
        len(stored)
        == sum(first.candidates.values())
        == sum(first.kept.values()) + sum(first.rejections.values())
    )
    for _, kind, outcome, rule, reason, *_ in stored:
        assert kind in KINDS and (outcome == "kept" or (rule and reason)), (kind, outcome, rule, reason)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        run = con.execute(
            "SELECT status, candidates, llm_calls, prompt_tokens, seconds FROM question_runs WHERE run_id = ?",
            [first.run_id],
        ).fetchone()
    assert run[0] == "completed" and run[1] == len(stored) and run[2] == first.llm_calls and run[3] > 0

    again = follow_collection(settings, COLLECTION, per_document=1)
    assert (again.documents, again.retired, again.llm_calls, again.llm_requests) == (0, 0, 0, 0)
    assert _questions(settings) == stored

    (folder / "ferry.txt").write_text(FERRY_CHANGED)
    assert ingest(folder, settings, collection=COLLECTION).status == "completed"
    ferry = _doc_ids(settings)["ferry.txt"]
    changed = follow_collection(settings, COLLECTION, per_document=1)
    on_ferry = {row[0] for row in stored if ferry in json.loads(row[5])}
    assert changed.documents == 1 and changed.retired == len(on_ferry) and changed.llm_requests > 0
    after = _questions(settings)
    retired = {row[0] for row in after if row[6]}
    assert retired == on_ferry
    assert all(
        row[7].startswith("document changed: ") and row[7].endswith("ferry.txt") for row in after if row[6]
    )
    new = [row for row in after if row[0] not in {r[0] for r in stored}]
    assert new and all(json.loads(row[5])[0] == ferry for row in new)  # generated for the ferry only

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [view] = con.execute(
            "SELECT answerable + multi_hop + unanswerable, rejected, retired, generation_runs, generation_calls "
            "FROM question_sets WHERE collection = ?", [collection_name(COLLECTION, settings.embedding_model)]
        ).fetchall()  # fmt: skip
    current = [row for row in after if not row[6]]
    assert view[:3] == (sum(r[2] == "kept" for r in current), sum(r[2] == "rejected" for r in current),
                        len(retired))  # fmt: skip
    assert view[3:] == (3, first.llm_calls + changed.llm_calls)


def test_review_round_trip_marks_questions_reviewed(corpus, tmp_path):
    settings, _ = corpus
    follow_collection(settings, COLLECTION, per_document=1)  # from the cache when the test above ran first
    everything = tmp_path / "all.jsonl"
    assert export_questions(settings, COLLECTION, everything, include_rejected=True) >= 4
    record = json.loads(everything.read_text().splitlines()[0])
    record |= {"question": "Which fish did Velmora boats land?", "answers": ["herring and cod"], "kind": "answerable",
               "outcome": "kept"}  # fmt: skip
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text(json.dumps(record) + "\n{broken\n" + json.dumps({"id": "x", "question": "Q?"}) + "\n")
    imported = run_cli("questions", "import", str(reviewed))
    said = imported.stdout + imported.stderr  # the command's lines go to the terminal's error stream
    assert imported.returncode == 0, said
    assert "line 2: not JSON" in said and "line 3: answers: Field required (skipped)" in said
    assert "1 question(s) imported as reviewed (0 new), 2 bad line(s) skipped" in said
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        quarantined = con.execute(
            "SELECT path FROM quarantine WHERE stage = 'questions_import' ORDER BY 1"
        ).fetchall()
    assert quarantined == [(f"{reviewed}:2",), (f"{reviewed}:3",)]
    kept = {q.id: q for q in kept_questions(settings, COLLECTION)}
    assert kept[record["id"]].reviewed and kept[record["id"]].answers == ["herring and cod"]
    assert kept[record["id"]].kind == "answerable"
    out = tmp_path / "kept.jsonl"
    assert export_questions(settings, COLLECTION, out) == len(kept)


def test_model_backed_rules_reject_crafted_candidates(corpus):
    settings, _ = corpus
    ids = _doc_ids(settings)
    harbour = ids["harbour.txt"]
    generator = Generator(settings, COLLECTION, settings.llm_model, "crafted", documents={})
    name = collection_name(COLLECTION, settings.embedding_model)

    def crafted(kind: str, **fields):
        return from_sources(name, kind, [], settings.llm_model, prompts.PROMPT_VERSION).model_copy(
            update={"question_id": f"crafted-{kind}-{len(fields['question'])}", "doc_ids": [harbour],
                    "chunk_ids": fields.pop("chunk_ids", []), **fields}
        )  # fmt: skip

    wrong_answer = crafted("answerable", question="Who kept the Velmora lighthouse from 1887 to 1902?",
                           answer="whale oil", evidence=["The lamp of the lighthouse burned whale oil until 1895."],
                           chunk_ids=["h"])  # fmt: skip
    in_the_text = crafted("unanswerable", question="Who served as keeper of the Velmora lighthouse from 1887 to 1902?",
                          answer="unanswerable")  # fmt: skip
    answered_by_lc = crafted("unanswerable", question="Who looked after the light on the Velmora coast until 1902?",
                             answer="unanswerable")  # fmt: skip
    checked = generator.check([wrong_answer, in_the_text, answered_by_lc], {"h": HARBOUR})
    assert [(c.outcome, c.rule) for c in checked] == [
        ("rejected", "answered_from_gold"),
        ("rejected", "no_support_retrieved"),
        ("rejected", "declined_by_long_context"),
    ], [c.reason for c in checked]
    assert "token F1" in checked[0].reason and "may answer it" in checked[1].reason
    assert generator.spend.calls == 2

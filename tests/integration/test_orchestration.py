"""Orchestration against real parts: targeted reindex, change detection, alias swaps, the nightly flow's cache
(a step that ended with failures is retried by the next nightly) and regression check under a temporary Prefect
server."""

from __future__ import annotations

import json
import threading
import time

import pytest
from prefect.testing.utilities import prefect_test_harness

from schemas.collection import collection_name
from schemas.settings import get_settings
from tasks.clients.vectorstore import connect, live_collection
from tasks.evaluation.mini import generate, page_image, write_jsonl
from tasks.ingestion.events import detect_changes
from tasks.ingestion.rebuild import rebuild
from tasks.ingestion.run import ingest
from tasks.ingestion.sources import OutsideSourceRoots, SourceUnavailable
from tasks.questions.review import import_questions
from tasks.testbed.corpus import body
from tests.integration.test_collection_evaluation import BEACON, QUAY
from tests.support.fault_llm import FaultLLM
from tests.support.readers import collection_objects, warehouse_rows

TEXT = "The harbour office keeps a ledger of every vessel that enters the bay at night. "


def _write(folder, name: str, topic: str, repeat: int = 40) -> None:
    (folder / name).write_text(f"The code word for {topic} is {topic.upper()}-9. " + TEXT * repeat)


def test_targeted_reindex_touches_only_the_named_files(running_services, tmp_path):
    settings = running_services
    root = tmp_path / "docs"
    root.mkdir()
    for topic in ("anchor", "buoy", "cargo"):
        _write(root, f"{topic}.txt", topic)
    first = ingest(root, settings, collection="Targeted")
    assert first.documents_changed == 3
    before = collection_objects(settings, "Targeted")

    _write(root, "anchor.txt", "anchor", repeat=80)  # changed
    _write(root, "dock.txt", "dock")  # created, but not named below
    (root / "buoy.txt").unlink()  # deleted
    summary = ingest(root, settings, collection="Targeted", paths=[root / "anchor.txt", root / "buoy.txt"])
    assert (summary.documents_seen, summary.documents_changed, summary.documents_deleted) == (1, 1, 1)
    after = collection_objects(settings, "Targeted")
    names = {p["source_path"].rsplit("/", 1)[-1] for p in after.values()}
    assert names == {"anchor.txt", "cargo.txt"}  # dock.txt waits for its own event
    cargo = {u for u, p in before.items() if p["source_path"].endswith("cargo.txt")}
    assert cargo <= set(after)

    with pytest.raises(OutsideSourceRoots):
        ingest(root, settings, collection="Targeted", paths=[tmp_path / "elsewhere.txt"])


def test_detect_changes_reports_created_changed_deleted(running_services, tmp_path):
    settings = running_services
    root = tmp_path / "docs"
    root.mkdir()
    for topic in ("keel", "mast"):
        _write(root, f"{topic}.txt", topic)
    assert {c.change for c in detect_changes(root, settings, "Scanned").changes} == {"created"}
    ingest(root, settings, collection="Scanned")
    assert detect_changes(root, settings, "Scanned").changes == []

    _write(root, "keel.txt", "keel", repeat=10)
    _write(root, "sail.txt", "sail")
    (root / "mast.txt").unlink()
    found = {c.path.rsplit("/", 1)[-1]: c.change for c in detect_changes(root, settings, "Scanned").changes}
    assert found == {"keel.txt": "changed", "sail.txt": "created", "mast.txt": "deleted"}

    # A copy is indexed once; when the original goes, the scan asks for the copy to be read.
    ingest(root, settings, collection="Scanned")
    (root / "sail-copy.txt").write_bytes((root / "sail.txt").read_bytes())
    assert detect_changes(root, settings, "Scanned").changes[0].change == "created"
    ingest(root, settings, collection="Scanned")
    assert detect_changes(root, settings, "Scanned").changes == []
    (root / "sail.txt").unlink()
    found = {c.path.rsplit("/", 1)[-1]: c.change for c in detect_changes(root, settings, "Scanned").changes}
    assert found == {"sail.txt": "deleted", "sail-copy.txt": "changed"}


def test_full_rebuild_swaps_the_alias_while_queries_keep_answering(running_services, tmp_path):
    settings = running_services
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(12):
        _write(root, f"report{i}.txt", f"topic{i}", repeat=60)
    ingest(root, settings, collection="Swap")
    alias = collection_name("Swap", settings.embedding_model)
    with connect(settings) as client:
        old = live_collection(client, alias)
    assert old and old != alias  # readers go through the alias
    objects_before = collection_objects(settings, "Swap")
    manifest_before = warehouse_rows(settings, "SELECT path, content_sha256, chunk_count FROM documents "
                                      "WHERE collection = ? ORDER BY path", [alias])  # fmt: skip

    answers, failures = [], []
    stop = threading.Event()

    def query_forever() -> None:
        with connect(settings) as client:
            collection = client.collections.use(alias)
            while not stop.is_set():
                try:
                    hits = collection.query.bm25(query="TOPIC3-9 code word", limit=3).objects
                    answers.append(len(hits))
                except Exception as error:  # every failed read is a failure of the swap
                    failures.append(repr(error))
                time.sleep(0.02)

    reader = threading.Thread(target=query_forever)
    reader.start()
    try:
        result = rebuild([root], settings, collection="Swap")
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(answers) > 10 and min(answers) > 0
    assert result.previous == old and result.collection != old
    with connect(settings) as client:
        assert live_collection(client, alias) == result.collection
        assert not client.collections.exists(old)  # dropped after the switch
    assert (
        collection_objects(settings, "Swap") == objects_before
    )  # same deterministic chunks, nothing lost or doubled
    assert (
        warehouse_rows(settings, "SELECT path, content_sha256, chunk_count FROM documents WHERE collection = ? "
                        "ORDER BY path", [alias]) == manifest_before
    )  # fmt: skip

    # A rebuild that fails part-way leaves the alias, the data and the manifest as they were.
    with pytest.raises(SourceUnavailable):
        rebuild([root, tmp_path / "unmounted"], settings, collection="Swap")
    with connect(settings) as client:
        assert live_collection(client, alias) == result.collection
        leftovers = [n for n in client.collections.list_all(simple=True) if n.startswith(f"{alias}_")]
    assert leftovers == [result.collection]
    assert collection_objects(settings, "Swap") == objects_before


@pytest.fixture()
def plan_file(tmp_path):
    """A nightly plan over a small folder and two examples of the mini benchmark, in a data set file of its
    own: no earlier run of the test session is its baseline."""
    docs = tmp_path / "docs"
    docs.mkdir()
    _write(docs, "tide.txt", "tide")
    write_jsonl(generate(), tmp_path / "nightly-mini.jsonl")
    path = tmp_path / "plan.yaml"

    def write(max_cost_rise_pct: float = 20.0, baseline: str = "previous", limit: int = 2,
              budget_usd: float | None = None) -> str:  # fmt: skip
        path.write_text(
            f"sources:\n  - path: docs\n    collection: NightlySources\n"
            f"evaluations:\n  - dataset: nightly-mini.jsonl\n    methods: [rag, lc]\n    k: [3]\n    limit: {limit}\n"
            f"    baseline: {baseline}\n"
            f"regression:\n  max_score_drop: 2.0\n  max_cost_rise_pct: {max_cost_rise_pct}\n"
            + (f"budget_usd: {budget_usd}\n" if budget_usd else "")
        )
        return str(path)

    return write


def test_nightly_skips_unchanged_work_and_fails_on_regression(priced, plan_file):
    """The local model priced, so runs cost something; pinning a run as its own baseline with an impossible cost
    threshold must fail the flow with the reason, while its unchanged scores pass the statistical gate."""
    from flows.nightly import nightly_flow

    settings = priced
    with pytest.MonkeyPatch.context() as env, prefect_test_harness(server_startup_timeout=180):
        env.setenv("RAGROUTE_PRICE_TABLE", str(priced.price_table))
        get_settings.cache_clear()
        try:
            first = nightly_flow(plan_file())
            second = nightly_flow(plan_file())
            assert first["runs"][0]["run_id"] == second["runs"][0]["run_id"]  # cached: not evaluated again
            runs = warehouse_rows(
                settings, "SELECT count(*) FROM eval_runs WHERE run_id = ?", [first["runs"][0]["run_id"]]
            )
            assert runs == [(1,)]
            state = nightly_flow(
                plan_file(max_cost_rise_pct=-1000, baseline=first["runs"][0]["run_id"]), return_state=True
            )
            # New work (three examples) under a night's budget below its forecast: stopped before any call.
            over = nightly_flow(plan_file(limit=3, budget_usd=1e-9), return_state=True)
            # Unchanged work costs nothing: the same tiny budget lets the cached evaluation through.
            within = nightly_flow(plan_file(budget_usd=1e-9))
        finally:
            get_settings.cache_clear()
    assert over.is_failed() and "nothing was asked" in str(over.result(raise_on_failure=False))
    assert within["runs"][0]["reused"] and within["spent_usd"] == 0
    assert warehouse_rows(settings, "SELECT count(*) FROM eval_runs WHERE dataset LIKE '%/nightly-mini.jsonl' "
                          "AND (config->>'limit') = '3'") == [(0,)]  # fmt: skip
    assert state.is_failed()
    assert "regressed against baseline" in state.message or "regressed" in str(
        state.result(raise_on_failure=False)
    )
    checks = warehouse_rows(settings, "SELECT passed, reason, ci_low, ci_high FROM regression_checks "
                            "WHERE run_id = ?", [first["runs"][0]["run_id"]])  # fmt: skip
    assert checks and not any(passed for passed, *_ in checks)
    assert all("cost rose 0.0%" in reason and "score" not in reason for _, reason, *_ in checks)
    assert all(low == high == 0 for *_, low, high in checks)  # the same answers: no score difference


def _units(settings, run_id: str) -> list[tuple]:
    """(example, method, k, prediction, error, created_at) of every prediction row of the run."""
    return warehouse_rows(settings, "SELECT example_id, method, k, prediction, error, created_at FROM predictions "
                          "WHERE run_id = ? ORDER BY example_id, method, k", [run_id])  # fmt: skip


def _manifest(settings, collection: str) -> list[tuple]:
    """(file name, status, chunk count) of every document of the collection, and its chunk rows by file."""
    alias = collection_name(collection, settings.embedding_model)
    documents = warehouse_rows(settings, "SELECT path, status, chunk_count FROM documents WHERE collection = ? "
                               "ORDER BY path", [alias])  # fmt: skip
    return [(path.rsplit("/", 1)[-1], status, count) for path, status, count in documents]


def _chunk_rows(settings, collection: str) -> tuple[int, int]:
    """(chunk rows in the manifest, distinct chunk ids among them)."""
    alias = collection_name(collection, settings.embedding_model)
    [(rows, distinct)] = warehouse_rows(
        settings, "SELECT count(*), count(DISTINCT chunk_id) FROM chunks WHERE collection = ?", [alias]
    )
    return rows, distinct


def test_nightly_retries_steps_that_ended_with_failures(running_services, tmp_path):
    """Fault matrix, "nightly after a failed step": tesseract's language data is gone for the first nightly
    (TESSDATA_PREFIX at an empty folder), so its scan is left in `error`, and the endpoint answers one request
    with a 500 (not retried), so its evaluation ends with a failed prediction; neither step is cached. The next
    nightly, with the data back, indexes the scan and resumes the run, answering only the failed unit; the one
    after finds both steps cached."""
    from flows.nightly import nightly_flow

    settings = running_services
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ledger.txt").write_text(body("ledger", 14))
    page_image(body("anchor", sentences=10)).save(docs / "scan.png")
    write_jsonl(generate(), tmp_path / "retry-mini.jsonl")  # a data set name no other test evaluates
    plan = tmp_path / "plan.yaml"
    plan.write_text("sources:\n  - path: docs\n    collection: NightlyRetry\n"
                    "evaluations:\n  - dataset: retry-mini.jsonl\n    methods: [rag]\n    k: [3]\n    limit: 2\n")  # fmt: skip
    no_tessdata = tmp_path / "no-tessdata"
    no_tessdata.mkdir()
    fault = FaultLLM(running_services.llm_base_url, rate=0.0, script=["server_error"])
    with fault.running(), pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_BASE_URL", fault.base_url)
        env.setenv("RAGROUTE_LLM_MAX_ATTEMPTS", "1")
        env.setenv("RAGROUTE_INGEST_WORKERS", "1")
        get_settings.cache_clear()
        try:
            with prefect_test_harness(server_startup_timeout=180):
                with pytest.MonkeyPatch.context() as tessdata:
                    tessdata.setenv("TESSDATA_PREFIX", str(no_tessdata))
                    get_settings.cache_clear()
                    first = nightly_flow(str(plan))["runs"][0]
                get_settings.cache_clear()
                before, after_first = _units(settings, first["run_id"]), fault.counts()
                documents_before, chunks_before = (
                    _manifest(settings, "NightlyRetry"),
                    _chunk_rows(settings, "NightlyRetry"),
                )
                second = nightly_flow(str(plan))["runs"][0]
                after, after_second = _units(settings, second["run_id"]), fault.counts()
                documents_after, chunks_after = (
                    _manifest(settings, "NightlyRetry"),
                    _chunk_rows(settings, "NightlyRetry"),
                )
                third = nightly_flow(str(plan))["runs"][0]
                documents_third = _manifest(settings, "NightlyRetry")
        finally:
            get_settings.cache_clear()
    objects = collection_objects(settings, "NightlyRetry")

    # Ingest: the scan waited in `error` (no chunks), the ledger was indexed; the retry indexed the scan and
    # left the ledger as it was; every chunk row is in Weaviate once.
    ledger_chunks = documents_before[0][2]
    assert [d[:2] for d in documents_before] == [("ledger.txt", "indexed"), ("scan.png", "error")]
    assert [d[:2] for d in documents_after] == [("ledger.txt", "indexed"), ("scan.png", "indexed")]
    assert documents_after[0] == documents_before[0] and documents_after[1][2] > 0
    assert chunks_before == (ledger_chunks, ledger_chunks)
    assert chunks_after == (len(objects), len(objects)) == (ledger_chunks + documents_after[1][2],) * 2
    assert documents_third == documents_after
    ingest_runs = warehouse_rows(settings, "SELECT count(*) FROM ingest_runs WHERE collection = ?",
                                 [collection_name("NightlyRetry", settings.embedding_model)])  # fmt: skip
    assert ingest_runs == [(2,)]  # the third nightly took the ingest from the cache

    # Evaluation: the same run, each unit once (nothing lost, nothing doubled), the failed one answered by the
    # one new request, the other untouched.
    keys = [unit[:3] for unit in before]
    failed = [unit for unit in before if unit[4] is not None]
    assert len(before) == len(set(keys)) == 2  # 2 examples, rag at k=3
    assert len(failed) == 1 and first["status"] == "completed_with_errors"
    assert after_first.injected == {"server_error": 1} and after_first.requests == 2
    retried = after_second - after_first
    lost, doubled = (
        len(set(keys) - {unit[:3] for unit in after}),
        len(after) - len({unit[:3] for unit in after}),
    )
    assert second["run_id"] == first["run_id"] and second["status"] == "completed"
    assert [unit[:3] for unit in after] == keys and (lost, doubled) == (0, 0)
    assert all(error is None and prediction is not None for _, _, _, prediction, error, _ in after)
    assert retried.requests == retried.forwarded == 1
    assert [unit for unit in after if unit in before] == [unit for unit in before if unit not in failed]
    print(f"nightly after a failed step: documents {documents_before} -> {documents_after}, chunk rows "
          f"{chunks_before[0]} -> {chunks_after[0]} (Weaviate objects {len(objects)}); predictions {len(before)} -> "
          f"{len(after)}, failed {len(failed)} -> 0, lost {lost}, doubled {doubled}")  # fmt: skip

    # Ended clean: the next nightly takes both steps from the cache and sends nothing.
    assert (third["run_id"], third["status"], third["reused"]) == (second["run_id"], second["status"], True)
    assert third["llm_calls"] == 0 and fault.counts().requests == after_second.requests
    runs = warehouse_rows(settings, "SELECT count(*) FROM eval_runs WHERE run_id = ?", [first["run_id"]])
    assert runs == [(1,)]


MARKET = (
    "The fish market of Brannock opens at five in the morning. Its hall was built in 1898 by the merchant "
    "Anna Kestrel, who sold salt cod to the northern towns."
)


def test_nightly_follows_an_edited_document_only(running_services, tmp_path):
    """A plan entry `collection:` evaluates the collection's question set: here two reviewed questions (about the
    quay and the market, which are then never regenerated) and what the nightly generates for the beacon. Editing
    the beacon and re-running the nightly generates questions for it alone (the lines it prints count the
    documents and the generation's calls) and evaluates again, asking the model only for answers whose prompts changed; an
    unchanged nightly generates and evaluates nothing."""
    from flows.nightly import nightly_flow

    settings = running_services
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in (("quay.txt", QUAY), ("beacon.txt", BEACON), ("market.txt", MARKET)):
        (docs / name).write_text(text)
    alias = collection_name("NightlyQuestions", settings.embedding_model)
    assert ingest(docs, settings, collection="NightlyQuestions").status == "completed"
    doc_ids = {path.rsplit("/", 1)[-1]: doc_id for path, doc_id in warehouse_rows(
        settings, "SELECT path, doc_id FROM documents WHERE collection = ?", [alias])}  # fmt: skip
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text("\n".join(json.dumps(line) for line in (
        {"question": "Who ordered granite for the new wall of the Orlen quay?", "answers": ["Ilse Varn"],
         "kind": "answerable", "gold_doc_ids": [doc_ids["quay.txt"]]},
        {"question": "Who built the hall of the Brannock fish market?", "answers": ["Anna Kestrel"],
         "kind": "answerable", "gold_doc_ids": [doc_ids["market.txt"]]},
    )))  # fmt: skip
    assert import_questions(settings, reviewed, "NightlyQuestions").imported == 2
    plan = tmp_path / "plan.yaml"
    plan.write_text("sources:\n  - path: docs\n    collection: NightlyQuestions\n"
                    "evaluations:\n  - collection: NightlyQuestions\n    methods: [lc, rag]\n    k: [1]\n")  # fmt: skip

    with prefect_test_harness(server_startup_timeout=180):
        first = nightly_flow(str(plan))["runs"][0]
        (docs / "beacon.txt").write_text(BEACON.replace("1921 to 1939", "1923 to 1941"))
        second = nightly_flow(str(plan))["runs"][0]
        third = nightly_flow(str(plan))["runs"][0]

    generations = warehouse_rows(settings, "SELECT documents, llm_calls FROM question_runs WHERE collection = ? "
                                 "ORDER BY started_at", [alias])  # fmt: skip
    assert [documents for documents, _ in generations] == [1, 1, 0]  # the beacon, the edited beacon, nothing
    assert generations[0][1] > 0 and generations[1][1] > 0 and generations[2][1] == 0
    # What `ragroute nightly` prints of each: documents generated for, and the generation's LLM calls.
    assert "1 document(s) generated for" in second["questions"][0]
    assert any(line.startswith(f"LLM: {generations[1][1]} calls") for line in second["questions"])
    assert any(line.startswith("LLM: 0 calls") for line in third["questions"]) and third["reused"]
    assert first["status"] == second["status"] == "completed" and first["llm_calls"] > 0
    assert second["run_id"] != first["run_id"] and second["cached_calls"] > 0  # unchanged answers: cached
    assert second["llm_calls"] < first["llm_calls"]
    assert third["run_id"] == second["run_id"] and third["llm_calls"] == 0
    print(f"\ngeneration calls per nightly: {[calls for _, calls in generations]}; evaluation requests: "
          f"{first['llm_calls']}, {second['llm_calls']} ({second['cached_calls']} cached), {third['llm_calls']}")

"""First-answer time of `ragroute ask --method auto` against `--method self_route`, on the same questions.

Run (services up, on an idle machine; the first run evaluates the collection, ~15 min on 2 cores):
    .venv/bin/python -m bench.ask [--collection BenchAsk] [--questions 6] [--words 4000] [--k 5] [--out PATH]

In one process:
  1. the collection: `mini`'s documents (a report of `--words` filler words, ~5,000 tokens at 4,000, for each
     two of `--questions`, and the scanned notice) ingested, and those questions imported as its reviewed
     question set; the set evaluated with lc, rag and self_route (a rerun finds it all in place and answers
     from the cache);
  2. the model's learned router trained on those outcomes (`ragroute router train --collection`);
  3. every question asked with `self_route` (phase 1), then with `auto` (phase 2), each phase on an empty LLM
     response cache of its own (a temporary data dir; the warehouse stays the data dir's), so every call is
     sent; one untimed unrelated completion before each phase, so the server's reuse of the last prompt's
     prefix helps neither; the embedding model and tokenizer are loaded before any timing.
Self-Route is the raw baseline. Printed per question: each method's route, time and requests, and whether the
answers are the same; then the ratio auto / self_route of the mean first-answer wall time over the questions
that need LC (the evaluation's LC answer scored better than RAG's; target ≤ 0.7, same answers) and over all
questions. The router has seen these questions' outcomes (it is the router a user would run). The last line is
the results as JSON (also written to --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from statistics import mean

from schemas.evaluation import QUESTION_SET, EvalConfig
from schemas.settings import Settings, apply_library_environment, get_settings
from tasks.clients.llm import LLM
from tasks.evaluation import mini
from tasks.evaluation.run import run_evaluation
from tasks.ingestion.embed import embed_texts
from tasks.ingestion.run import ingest
from tasks.questions.review import import_questions
from tasks.routing.ask import Asker
from tasks.routing.learned import describe, train_and_store
from warehouse import routers
from warehouse.db import session_for


def prepare(settings: Settings, collection: str, questions: int, words: int, k: int) -> dict[str, bool]:
    """Ingest `mini`'s documents, import its questions and evaluate them (all cached on a rerun); returns
    question -> whether LC's answer scored better than RAG's."""
    examples = mini.generate(examples=questions, words=words)
    folder = settings.data_dir / "bench-ask" / f"docs-{questions}x{words}"
    mini.write_documents(examples, folder)
    ingest(folder, settings, collection=collection)
    reviewed = folder.parent / f"questions-{questions}x{words}.jsonl"
    reviewed.write_text("\n".join(json.dumps({"question": e.input, "answers": e.answers, "kind": e.kind})
                                  for e in examples))  # fmt: skip
    import_questions(settings, reviewed, collection)
    config = EvalConfig(collection=collection, methods=["lc", "rag", "self_route"], k=[k])
    summary = run_evaluation(config, settings)
    print(f"evaluated {summary.dataset}: run {summary.run_id}, {summary.llm_calls} LLM requests, "
          f"{summary.cached_calls} from the cache")  # fmt: skip
    with session_for(settings) as con:
        rows = routers.training_rows(con, settings.llm_model, f"{QUESTION_SET}{collection}")
    return {row["question"]: bool(row["needs_lc"]) for row in rows if row["k"] == k}


def phase(settings: Settings, collection: str, questions: list[str], method: str, k: int) -> list[dict]:
    """Each question asked once with `method` on an empty response cache; its route, time and answer."""
    with tempfile.TemporaryDirectory(prefix="bench-ask-") as data_dir:
        fresh = settings.model_copy(update={"data_dir": Path(data_dir), "duckdb_path": settings.warehouse_path})
        asker = Asker(fresh, collection)
        embed_texts(["warm up"], fresh), asker.tokenizer.count("warm up")
        answers = []
        for question in questions:
            started = time.perf_counter()
            result = asker.ask(question, method=method, k=k, log=False)
            seconds = time.perf_counter() - started
            if result.error:
                raise SystemExit(f"{method} failed on {question!r}: {result.error}")
            print(f"{method}: {seconds:.1f}s, route {result.route}, {result.llm_requests} requests: {question}",
                  flush=True)
            answers.append({"question": question, "route": result.route, "seconds": round(seconds, 2),
                            "answer": result.answer, "llm_requests": result.llm_requests,
                            "cached": result.cached_calls,
                            "straight_to_lc": result.route == "lc" and result.step1_answer is None})  # fmt: skip
        return answers


def unrelated_completion(settings: Settings) -> None:
    """One short prompt unlike any question's, so the next prompt shares no prefix with the last one."""

    async def complete() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-ask-") as data_dir:
            llm = LLM(settings.model_copy(update={"data_dir": Path(data_dir)}))
            try:
                await llm.complete("Name one colour.", 4)
            finally:
                await llm.aclose()

    asyncio.run(complete())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", default="BenchAsk")
    parser.add_argument("--questions", type=int, default=6, help="mini questions, two over each report")
    parser.add_argument("--words", type=int, default=4000, help="filler words of each report")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    apply_library_environment()
    settings = get_settings()
    needs_lc = prepare(settings, args.collection, args.questions, args.words, args.k)
    router = train_and_store(settings, f"{QUESTION_SET}{args.collection}", settings.llm_model)
    print(describe(router))
    questions = sorted(needs_lc)
    unrelated_completion(settings)  # the server is idle and holds no question's prefix before phase 1 too
    self_route = phase(settings, args.collection, questions, "self_route", args.k)
    unrelated_completion(settings)
    auto = phase(settings, args.collection, questions, "auto", args.k)
    for base, routed in zip(self_route, auto, strict=True):
        print(f"{base['seconds']:6.1f}s self_route ({base['route']}, {base['llm_requests']} requests)  "
              f"{routed['seconds']:6.1f}s auto ({routed['route']}, {routed['llm_requests']} requests)  "
              f"same answer: {base['answer'] == routed['answer']}  needs LC: {needs_lc[base['question']]}  "
              f"{base['question']}")  # fmt: skip
    to_lc = [i for i, question in enumerate(questions) if needs_lc[question]]

    def ratio(indexes: list[int]) -> float | None:
        if not indexes:
            return None
        return round(mean(auto[i]["seconds"] for i in indexes) / mean(self_route[i]["seconds"] for i in indexes), 3)

    results = {
        "router_id": router.router_id, "cv_accuracy": router.cv_accuracy, "questions": len(questions),
        "need_lc": len(to_lc), "self_route_to_lc": sum(r["route"] == "lc" for r in self_route),
        "auto_straight_to_lc": sum(r["straight_to_lc"] for r in auto),
        "ratio_needing_lc": ratio(to_lc), "ratio_all": ratio(list(range(len(questions)))),
        "same_answers_needing_lc": all(auto[i]["answer"] == self_route[i]["answer"] for i in to_lc),
        "self_route": self_route, "auto": auto,
    }  # fmt: skip
    print(f"questions that need LC: {len(to_lc)} of {len(questions)}; auto/self_route first-answer time "
          f"{results['ratio_needing_lc']} (target ≤ 0.7), same answers: {results['same_answers_needing_lc']}; "
          f"all questions: {results['ratio_all']}")  # fmt: skip
    print(json.dumps(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

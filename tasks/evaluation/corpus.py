"""A corpus QA set evaluated over an ingested collection: each method answers through `ragroute ask`'s own
`Asker` (retrieval from the collection; LC = the documents behind the retrieved chunks) and is scored with token
F1 against the answers (a failed answer scores as an empty one, so every method is scored on the same questions;
"the documents do not say" scores as the decline "unanswerable"; Self-Route's first step is scored too);
retrieved documents are checked against the gold document ids where given."""

from __future__ import annotations

import uuid
from functools import partial

from schemas.benchmarks import CorpusQuestion
from schemas.evaluation import QUESTION_SET, EvalConfig
from schemas.settings import Settings
from tasks.evaluation import scoring
from tasks.evaluation.benchmark import Progress
from tasks.evaluation.predictions import Answer, Unit, prediction_row
from tasks.evaluation.summary import EvalSummary, close_run, code_version
from tasks.routing.ask import ASK_METHODS, NOT_IN_DOCUMENTS, Asker, AskResult
from tasks.routing.citations import CITATION
from warehouse import results
from warehouse.db import session_for


def _score(answer: str, question: CorpusQuestion) -> float:
    """Token F1 of the answer in words (citation markers dropped) against the best gold answer; `ask`'s
    "the documents do not say" is the decline "unanswerable", the gold answer of a question nothing answers."""
    plain = "unanswerable" if answer == NOT_IN_DOCUMENTS else CITATION.sub("", answer)
    return max((scoring.qa_f1_score(plain, gold) for gold in question.answers), default=0.0)


def corpus_dataset(name: str) -> str:
    """The data set name a corpus evaluation records: `questions:<collection>` for a collection's question set,
    `corpus:<file>` for a QA file."""
    return name if name.startswith(QUESTION_SET) else f"corpus:{name}"


def _answer(asked: AskResult) -> Answer:
    return Answer(
        text=asked.answer, route=asked.route, error=asked.error, prompt_tokens=asked.prompt_tokens,
        completion_tokens=asked.completion_tokens, cached_prompt_tokens=asked.cached_prompt_tokens,
        cost_usd=asked.cost_usd, spent_cost_usd=asked.spent_cost_usd, latency_ms=asked.latency_ms,
        decline_prob=asked.decline_prob, step1_text=asked.step1_answer,
        step1_prompt_tokens=asked.step1_prompt_tokens, step1_completion_tokens=asked.step1_completion_tokens,
    )  # fmt: skip


def evaluate_corpus(
    questions: list[CorpusQuestion], config: EvalConfig, settings: Settings, progress: Progress | None = None
) -> EvalSummary:
    config = config.with_defaults(settings)
    progress = progress or (lambda message, done, total: None)
    asker = Asker(settings, config.collection, config.decline_threshold)
    run_id = config.run_id or str(uuid.uuid4())
    dataset = corpus_dataset(config.dataset)
    methods = [m for m in config.methods if m in ASK_METHODS]
    skipped = [
        f"{m} skipped: a corpus QA set answers through `ragroute ask` ({', '.join(ASK_METHODS)})"
        for m in config.methods
        if m not in ASK_METHODS
    ]
    with session_for(settings) as con:
        results.refresh_prices(con, asker.prices)
        results.start_run(
            con,
            run_id,
            dataset,
            methods,
            {"collection": asker.collection_name, "ks": config.k},
            code_version(),
            settings.llm_model,
            settings.llm_base_url,
        )
        results.write_examples(con, [[dataset, q.id, None, None, None, None, q.kind] for q in questions])
        done = results.completed_units(con, run_id)
    units = [(q, m, k) for q in questions for m in methods for k in ([0] if m == "lc" else config.k)
             if (q.id, m, k) not in done]  # fmt: skip
    errors = requests = cached = 0
    for number, (question, method, k) in enumerate(units, start=1):
        answer = asker.ask(question.question, method=method, k=k or settings.eval_top_k, log=False)
        errors += answer.error is not None
        requests, cached = requests + answer.llm_requests, cached + answer.cached_calls
        unit = Unit(run_id, question.id, dataset, method, k, "hybrid", settings.llm_model)
        row, score = prediction_row(unit, _answer(answer), "qa_f1_score", partial(_score, question=question))
        gold = set(question.gold_doc_ids)
        retrievals = [[run_id, question.id, k, "hybrid", p["number"], p["chunk_id"], 0, None,
                       p["doc_id"] in gold if gold else None, None] for p in answer.retrieved if k]  # fmt: skip
        with session_for(settings) as con:
            results.write_prediction(con, row, score)
            results.write_retrievals(con, retrievals)
        progress(f"{method} {question.id}", number, len(units))
    summary = close_run(
        settings, run_id, dataset, settings.llm_model, errors, requests, cached, config.decline_threshold
    )
    summary.skipped = skipped
    return summary

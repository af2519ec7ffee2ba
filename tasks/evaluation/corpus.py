"""A corpus QA set evaluated over an ingested collection: each method answers through `ragroute ask`'s own
`Asker` (retrieval from the collection; LC = the documents behind the retrieved chunks) and is scored with token
F1 against the answers (a failed answer scores as an empty one, so every method is scored on the same questions;
"the documents do not say" scores as the decline "unanswerable"; Self-Route's first step is scored too);
retrieved documents are checked against the gold document ids where given. A question without gold answers (a
replayed ask) is answered by LC first and every method is scored by its agreement with LC's answer; with a judge
model set, a judge rates each of its answers against the evidence it cites (`tasks/evaluation/judge.py`)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from functools import partial

from schemas.benchmarks import CorpusQuestion
from schemas.evaluation import ASKED, QUESTION_SET, EvalConfig
from schemas.settings import Settings
from tasks.clients.llm import LLM
from tasks.evaluation import scoring
from tasks.evaluation.benchmark import Progress, stop_past_budget
from tasks.evaluation.judge import JUDGE_PROMPT_VERSION, judge
from tasks.evaluation.nightly import data_fingerprint
from tasks.evaluation.predictions import Answer, Unit, prediction_row
from tasks.evaluation.summary import EvalSummary, close_run, code_version
from tasks.routing.ask import ASK_METHODS, NOT_IN_DOCUMENTS, Asker, AskResult, Question
from tasks.routing.citations import CITATION
from warehouse import results, routers
from warehouse.db import session_for


def _plain(answer: str) -> str:
    """An answer in words, citation markers dropped; `ask`'s "the documents do not say" is the decline
    "unanswerable", the gold answer of a question nothing answers."""
    return "unanswerable" if answer == NOT_IN_DOCUMENTS else CITATION.sub("", answer)


def _score(answer: str, question: CorpusQuestion) -> float:
    """Token F1 of the answer against the best gold answer."""
    return max((scoring.qa_f1_score(_plain(answer), gold) for gold in question.answers), default=0.0)


# The evaluated method answered by each of `ask`'s methods: `learned_route` is `ask --method auto`.
ASK_METHOD_OF = {"learned_route": "auto"} | {method: method for method in ASK_METHODS if method != "auto"}


def corpus_units(
    questions: list[CorpusQuestion], methods: list[str], ks: list[int]
) -> list[tuple[CorpusQuestion, str, int]]:
    """(question, method, k) of every answer a run gives (k = 0 for LC), for the methods `ask` answers; LC first
    for each question: a question without gold answers is scored against LC's answer."""
    answered = sorted((m for m in methods if m in ASK_METHOD_OF), key=lambda m: m != "lc")
    return [(q, m, k) for q in questions for m in answered for k in ([0] if m == "lc" else ks)]


def corpus_dataset(name: str) -> str:
    """The data set name a corpus evaluation records: `questions:<collection>` for a collection's question set,
    `asks:<collection>` for the questions asked of it, `corpus:<file>` for a QA file."""
    return name if name.startswith((QUESTION_SET, ASKED)) else f"corpus:{name}"


class References:
    """What an answer is scored against: the question's gold answers, or, for a question without any (a
    replayed ask), LC's answer to it in the same run (token F1 is then agreement with LC)."""

    def __init__(self, lc_answers: dict[str, str]):
        self.lc_answers = lc_answers  # example id -> LC's answer (in words), answered in this run

    def metric(self, question: CorpusQuestion) -> str:
        return "qa_f1_score" if question.answers else "agreement_with_lc"

    def scored(self, question: CorpusQuestion) -> CorpusQuestion:
        if question.answers:
            return question
        return question.model_copy(update={"answers": [_plain(self.lc_answers.get(question.id) or "")]})

    def keep(self, question: CorpusQuestion, method: str, answer: AskResult) -> None:
        if method == "lc" and answer.error is None:
            self.lc_answers[question.id] = answer.answer or ""


class Judge:
    """The judge model's verdicts on the answers to questions without gold answers (`judge_model` set),
    recorded in `judgments`; one client for the run, on an event loop of its own."""

    def __init__(self, settings: Settings, asker: Asker):
        self.model, self.prices = settings.judge_model, asker.prices
        self.runner = asyncio.Runner()
        self.llm = LLM(settings, model=settings.judge_model, count_tokens=asker.tokenizer.count)

    def record(self, unit: Unit, question: CorpusQuestion, answer: AskResult) -> None:
        if question.answers or answer.error is not None:
            return
        evidence = [sentence for citation in answer.citations for sentence in citation.evidence]
        declined, text = answer.not_in_documents, answer.answer or ""
        verdict = self.runner.run(judge(self.llm, self.prices, question.question, text, evidence, declined))
        row = {"run_id": unit.run_id, "example_id": unit.example_id, "method": unit.method, "k": unit.k,
               "judge_model": self.model, "prompt_version": JUDGE_PROMPT_VERSION} | asdict(verdict)  # fmt: skip
        with session_for(self.llm.settings) as con:
            results.write_judgment(con, row)

    def close(self) -> None:
        self.runner.run(self.llm.aclose())
        self.runner.close()


def _answer(asked: AskResult) -> Answer:
    return Answer(
        text=asked.answer, route=asked.route, error=asked.error, prompt_tokens=asked.prompt_tokens,
        completion_tokens=asked.completion_tokens, cached_prompt_tokens=asked.cached_prompt_tokens,
        cost_usd=asked.cost_usd, spent_cost_usd=asked.spent_cost_usd, latency_ms=asked.latency_ms,
        decline_prob=asked.decline_prob, step1_text=asked.step1_answer,
        step1_prompt_tokens=asked.step1_prompt_tokens, step1_completion_tokens=asked.step1_completion_tokens,
    )  # fmt: skip


def _store(settings: Settings, unit: Unit, question: CorpusQuestion, answer: AskResult, row: dict, score) -> None:
    """The prediction, its retrieved chunks (checked against the gold documents) and its route features."""
    gold, k = set(question.gold_doc_ids), unit.k
    retrievals = [[unit.run_id, question.id, k, "hybrid", p["number"], p["chunk_id"], 0, p["score"],
                   p["doc_id"] in gold if gold else None, None] for p in answer.retrieved if k]  # fmt: skip
    with session_for(settings) as con:
        results.write_prediction(con, row, score)
        results.write_retrievals(con, retrievals)
        if answer.features is not None and k:
            routers.write_route_features(con, [{"run_id": unit.run_id, "example_id": question.id, "k": k}
                                               | answer.features])  # fmt: skip


def evaluate_corpus(
    questions: list[CorpusQuestion], config: EvalConfig, settings: Settings, progress: Progress | None = None
) -> EvalSummary:
    config = config.with_defaults(settings)
    progress = progress or (lambda message, done, total: None)
    asker = Asker(settings, config.collection, config.decline_threshold)
    run_id = config.run_id or str(uuid.uuid4())
    dataset = corpus_dataset(config.dataset)
    methods = [m for m in config.methods if m in ASK_METHOD_OF]
    skipped = [
        f"{m} skipped: a corpus QA set answers through `ragroute ask` ({', '.join(ASK_METHOD_OF)})"
        for m in config.methods
        if m not in ASK_METHOD_OF
    ]
    with session_for(settings) as con:
        results.refresh_prices(con, asker.prices)
        results.start_run(
            con,
            run_id,
            dataset,
            methods,
            {"collection": asker.collection_name, "ks": config.k,
             "data_fingerprint": data_fingerprint(questions, settings, config.collection)},
            code_version(),
            settings.llm_model,
            settings.llm_base_url,
        )
        results.write_examples(con, [[dataset, q.id, None, None, None, None, q.kind] for q in questions])
        done = results.completed_units(con, run_id)
        references = References(results.method_answers(con, run_id, "lc"))
    units = [(q, m, k) for q, m, k in corpus_units(questions, methods, config.k) if (q.id, m, k) not in done]
    judging = Judge(settings, asker) if settings.judge_model else None
    errors = requests = cached = 0
    spent, budget = 0.0, config.max_cost_usd
    try:
        for number, (question, method, k) in enumerate(units, start=1):
            about = Question(question.id, question.kind)
            answer = asker.ask(question.question, ASK_METHOD_OF[method], k or settings.eval_top_k, False, about)
            errors += answer.error is not None
            requests, cached = requests + answer.llm_requests, cached + answer.cached_calls
            references.keep(question, method, answer)
            unit = Unit(run_id, question.id, dataset, method, k, "hybrid", settings.llm_model)
            scored = partial(_score, question=references.scored(question))
            _store(settings, unit, question, answer, *prediction_row(unit, _answer(answer),
                                                                     references.metric(question), scored))  # fmt: skip
            if judging:
                judging.record(unit, question, answer)
            progress(f"{method} {question.id}", number, len(units))
            spent += answer.spent_cost_usd or 0.0
            stop_past_budget(run_id, number, len(units), spent, budget)
    except Exception:
        with session_for(settings) as con:
            results.finish_run(con, run_id, "failed")
        raise
    finally:
        if judging:
            judging.close()
    summary = close_run(
        settings, run_id, dataset, settings.llm_model, errors, requests, cached, config.decline_threshold
    )
    summary.skipped = skipped
    return summary

"""Answer scoring with the official LongBench v1 (English), LongBench v2 and ∞Bench metrics.

Every metric takes ``(prediction, ground_truth, **kwargs)`` and returns a float in [0, 1]; a record scores the
best match over its gold answers, and a task scores ``round(100 * mean, 2)`` (LongBench v2: one decimal, as
its result.py). Records may use ∞Bench's field names (``prediction``, ``ground_truth``/``label``) and
LongBench v2's (``response``, ``answer``, ``judge``). LongBench-E's per-length scores: `longbench_e_scores`.
"""

from __future__ import annotations

import json
import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rouge import Rouge

from tasks.evaluation import longbench_v2

with warnings.catch_warnings():
    # fuzzywuzzy warns at import that python-Levenshtein is absent; the pure-Python matcher gives the same ratio.
    warnings.simplefilter("ignore", UserWarning)
    from fuzzywuzzy import fuzz

Metric = Callable[..., float]

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CODE_COMMENT_MARKS = ("`", "#", "//")
_MC_LETTERS = "ABCD"
_MC_STRIP_CHARS = ("\n", '"', "'", ".", ",", "?", "!", "{", "}")
_MC_ANSWER_PREFIXES = ("answer is:", "answer:", "answer is", "option is")


def normalize_answer(s: str) -> str:
    """Lower-case, drop ASCII punctuation and English articles, collapse whitespace (in that order)."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(prediction_tokens: list[str], ground_truth_tokens: list[str]) -> float:
    """F1 of the multiset overlap between two token lists."""
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_f1_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """Token-level F1 between the normalised prediction and gold answer."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def rouge_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """ROUGE-L F of the ``rouge`` package; 0.0 where it cannot score (e.g. an empty prediction)."""
    try:
        scores = Rouge().get_scores([prediction], [ground_truth], avg=True)
    except Exception:
        return 0.0
    return float(scores["rouge-l"]["f"])


def classification_score(
    prediction: str, ground_truth: str, all_classes: list[str] | None = None, **_: Any
) -> float:
    """1/k when the gold class is among the k classes named in the prediction, else 0.0.

    Classes that are proper substrings of the gold class are not counted against it.
    """
    matches = [name for name in all_classes or [] if name in prediction]
    for term in list(matches):
        if term in ground_truth and term != ground_truth:
            matches.remove(term)
    return 1.0 / len(matches) if ground_truth in matches else 0.0


def _share_equal_to(prediction: str, target: str) -> float:
    """Share of the integers in ``prediction`` that equal ``target``; 0.0 when it holds none."""
    numbers = re.findall(r"\d+", prediction)
    if not numbers:
        return 0.0
    return sum(number == target for number in numbers) / len(numbers)


def retrieval_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """Share of the numbers in the prediction that name the gold paragraph ("Paragraph N")."""
    matches = re.findall(r"Paragraph (\d+)", ground_truth)
    if not matches:
        raise ValueError(f"gold answer names no 'Paragraph N': {ground_truth!r}")
    return _share_equal_to(prediction, matches[0])


def count_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """Share of the numbers in the prediction that equal the gold count."""
    return _share_equal_to(prediction, str(ground_truth))


def code_sim_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """Fuzzy ratio between the first non-comment line of the prediction and the gold line."""
    lines = prediction.lstrip("\n").split("\n")
    first = next((line for line in lines if not any(mark in line for mark in _CODE_COMMENT_MARKS)), "")
    return fuzz.ratio(first, ground_truth) / 100


def _mc_label(answer: str, options: list[str] | None) -> list[str]:
    """The strings that count as naming the gold option: its text and its letter, where known."""
    options = options or []
    if answer in options:
        return [answer, _MC_LETTERS[options.index(answer)]]
    if len(answer) == 1 and answer in _MC_LETTERS:
        index = _MC_LETTERS.index(answer)
        return [options[index], answer] if index < len(options) else [answer]
    return [answer]


def _mc_choice_matches(prediction: str, label: list[str]) -> bool:
    """∞Bench En.MC rule (`get_score_one_longbook_choice_eng`): does the prediction pick an option in ``label``?

    In order: a leading A-D letter alone decides; an exact match with the text or letter counts; else, with
    punctuation blanked and double spaces collapsed, the first answer prefix found decides by what follows it
    after exactly one skipped character; else the first word that is a substring of "ABCD" decides.
    """
    pred = prediction.strip()
    if not pred:
        return False
    if pred[0] in _MC_LETTERS:
        return pred[0] in label
    if pred in label:
        return True
    for ch in _MC_STRIP_CHARS:
        pred = pred.replace(ch, " ")
    while "  " in pred:
        pred = pred.replace("  ", " ")
    for prefix in _MC_ANSWER_PREFIXES:
        index = pred.find(prefix)
        if index == -1:
            continue
        if len(pred) < index + len(prefix) + 1:  # the prediction ends with the prefix
            return False
        after = pred[index + len(prefix) + 1 :]
        return any(after.startswith(item) for item in label)
    for word in pred.split():
        if word in _MC_LETTERS:  # a substring test, as officially: "AB" or "BCD" stop the search too
            return word in label
    return False


def infbench_mc_score(
    prediction: str, ground_truth: str, options: list[str] | None = None, **_: Any
) -> float:
    """1.0 when the prediction picks the gold option (by letter or text), else 0.0."""
    return 1.0 if _mc_choice_matches(prediction, _mc_label(ground_truth, options)) else 0.0


def longbench_v2_score(prediction: str, ground_truth: str, **_: Any) -> float:
    """LongBench v2: 1.0 when the letter its official `extract_answer` reads is the gold letter, else 0.0."""
    return 1.0 if longbench_v2.is_correct(prediction, ground_truth.strip()) else 0.0


TASK_METRICS: dict[str, Metric] = {
    **dict.fromkeys(
        ("narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "triviaqa", "mini"),
        qa_f1_score,
    ),
    **dict.fromkeys(("gov_report", "qmsum", "multi_news", "samsum"), rouge_score),
    "trec": classification_score,
    "passage_retrieval_en": retrieval_score,
    "passage_count": count_score,
    "lcc": code_sim_score,
    "repobench-p": code_sim_score,
    "infbench_en_qa": qa_f1_score,
    "infbench_en_mc": infbench_mc_score,
    "longbench_v2": longbench_v2_score,
}
SUPPORTED_TASKS: tuple[str, ...] = tuple(sorted(TASK_METRICS))

FIRST_LINE_TASKS = frozenset({"trec", "triviaqa", "samsum", "lsht"})
# Tasks whose score has one decimal (LongBench v2's result.py); the others have two.
_SCORE_DECIMALS = {"longbench_v2": 1}
# LongBench-E's length buckets (eval.py --e): by the record's `length` (words), below 4000, below 8000, else.
LONGBENCH_E_BUCKETS: tuple[str, ...] = ("0-4k", "4-8k", "8k+")
# Tasks that are not LongBench v1's, so have no LongBench-E buckets.
_NOT_LONGBENCH_V1 = frozenset({"mini", "infbench_en_qa", "infbench_en_mc", "longbench_v2"})
# Prediction-file keys: ragroute's first, then ∞Bench's (its compute_scores.py reads prediction/pred and
# ground_truth/label) and LongBench v2's `answer`.
_PRED_ALIASES = ("prediction",)
_GOLD_ALIASES = ("ground_truth", "label", "answer")


def _metric_for(task: str) -> Metric:
    """The metric of ``task``, or ValueError naming the supported tasks."""
    try:
        return TASK_METRICS[_base_task(task)]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; supported tasks: {', '.join(SUPPORTED_TASKS)}") from None


def _base_task(task: str) -> str:
    """LongBench-E's data set names ("qasper_e") score as their LongBench task."""
    if task.endswith("_e") and task[:-2] in TASK_METRICS:
        return task[:-2]
    return task


# What a record needs for its metric to score it: checked when a data set loads, before any LLM call, so that a
# record that cannot be scored is quarantined instead of failing the run after its calls were paid.
Precondition = Callable[[list[str], list[str] | None, list[str] | None], str | None]


def _names_paragraphs(answers: list[str], all_classes, options) -> str | None:
    missing = [answer for answer in answers if not re.search(r"Paragraph (\d+)", answer)]
    return f"gold answer names no 'Paragraph N': {missing[0]!r}" if missing else None


def _among_classes(answers: list[str], all_classes: list[str] | None, options) -> str | None:
    if not all_classes:
        return "no class list (all_classes) to find the gold class in"
    outside = [answer for answer in answers if answer not in all_classes]
    return f"gold class {outside[0]!r} is not in all_classes" if outside else None


def _whole_numbers(answers: list[str], all_classes, options) -> str | None:
    bad = [answer for answer in answers if not re.fullmatch(r"\d+", answer)]
    return f"gold count {bad[0]!r} is not a whole number" if bad else None


def _an_option(answers: list[str], all_classes, options: list[str] | None) -> str | None:
    if not options:
        return "no options to choose from"
    letters = _MC_LETTERS[: len(options)]
    bad = [answer for answer in answers if answer not in options and answer not in letters]
    return f"gold answer {bad[0]!r} is neither an option nor its letter" if bad else None


def _one_letter(answers: list[str], all_classes, options) -> str | None:
    bad = [answer for answer in answers if answer.strip() not in _MC_LETTERS]
    return f"gold answer {bad[0]!r} is not a letter A-D" if bad else None


_PRECONDITIONS: dict[Metric, Precondition] = {
    retrieval_score: _names_paragraphs,
    classification_score: _among_classes,
    count_score: _whole_numbers,
    infbench_mc_score: _an_option,
    longbench_v2_score: _one_letter,
}


def unscorable_by(
    metric: Metric,
    answers: list[str],
    all_classes: list[str] | None = None,
    options: list[str] | None = None,
) -> str | None:
    """Why `metric` cannot score a record with these gold answers, or None when it can: a gold answer to
    compare with, and the metric's own precondition (the other metrics score any gold answer)."""
    if not any(answer.strip() for answer in answers):
        return "no gold answer"
    check = _PRECONDITIONS.get(metric)
    return check(answers, all_classes, options) if check else None


def unscorable(
    task: str, answers: list[str], all_classes: list[str] | None = None, options: list[str] | None = None
) -> str | None:
    """Why a record of `task` cannot be scored (no metric for the task, or `unscorable_by`), or None."""
    try:
        metric = _metric_for(task)
    except ValueError as error:
        return str(error)
    return unscorable_by(metric, answers, all_classes, options)


def score_record(
    task: str,
    prediction: str,
    answers: list[str],
    all_classes: list[str] | None = None,
    options: list[str] | None = None,
) -> float:
    """Best score of ``prediction`` over the gold ``answers`` under the task's metric, in [0, 1]."""
    metric = _metric_for(task)
    task = _base_task(task)
    if task in FIRST_LINE_TASKS:
        prediction = prediction.lstrip("\n").split("\n")[0]
    best = 0.0
    for answer in answers:
        best = max(best, metric(prediction, answer, all_classes=all_classes, options=options))
    return best


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def canonical_record(task: str, record: Any) -> Any:
    """``record`` with ragroute's keys filled in from ∞Bench's or LongBench v2's where it lacks them:
    ``pred`` from ``prediction`` (for LongBench v2 from ``response``, the model's text, when present) and
    ``answers`` from ``ground_truth``, ``label`` or ``answer`` (a string becomes a one-item list)."""
    if not isinstance(record, dict):
        return record
    out = dict(record)
    if _base_task(task) == "longbench_v2" and isinstance(out.get("response"), str):
        out["pred"] = out["response"]  # an official v2 result: its `pred` is the extracted letter or null
    elif "pred" not in out:
        for key in _PRED_ALIASES:
            if key in out:
                out["pred"] = out[key]
                break
    if "answers" not in out:
        for key in _GOLD_ALIASES:
            if key in out:
                out["answers"] = [out[key]] if isinstance(out[key], str) else out[key]
                break
    return out


def _record_problem(record: Any, task: str | None = None) -> str | None:
    """Why ``record`` cannot be scored, or None when it can."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if task is not None and _base_task(task) == "longbench_v2" and "judge" in record:
        pass  # an official v2 result is judged already; its `pred` may be null
    elif not isinstance(record.get("pred"), str):
        return "'pred' must be a string"
    if not _is_str_list(record.get("answers")):
        return "'answers' must be a list of strings"
    for key in ("all_classes", "options"):
        if record.get(key) is not None and not _is_str_list(record[key]):
            return f"'{key}' must be a list of strings or null"
    return None


def _score_valid_record(task: str, record: dict[str, Any]) -> float:
    if _base_task(task) == "longbench_v2":
        return float(longbench_v2.record_accuracy(record))  # `judge` where present, as result.py
    return score_record(
        task, record["pred"], record["answers"], record.get("all_classes"), record.get("options")
    )


def _aggregate(per_record: list[float], decimals: int = 2) -> float:
    """Task score: 100 × mean, rounded to 2 decimals (LongBench v2: 1); 0.0 for no records."""
    return round(100 * sum(per_record) / len(per_record), decimals) if per_record else 0.0


def score_task(task: str, records: Iterable[dict[str, Any]]) -> tuple[float, list[float]]:
    """Score records with keys pred, answers (and optionally all_classes, options): (task score, per record)."""
    _metric_for(task)
    per_record: list[float] = []
    for index, record in enumerate(records):
        record = canonical_record(task, record)
        problem = _record_problem(record, task)
        if problem:
            raise ValueError(f"record {index}: {problem}")
        per_record.append(_score_valid_record(task, record))
    return _aggregate(per_record, _SCORE_DECIMALS.get(_base_task(task), 2)), per_record


def length_bucket(length: float) -> str:
    """LongBench-E's bucket of a context of ``length`` words: "0-4k" (< 4000), "4-8k" (< 8000) or "8k+"."""
    if length < 4000:
        return "0-4k"
    if length < 8000:
        return "4-8k"
    return "8k+"


def _has_length(record: Any) -> bool:
    length = record.get("length") if isinstance(record, dict) else None
    return isinstance(length, int | float) and not isinstance(length, bool)


def longbench_e_scores(task: str, records: Iterable[dict[str, Any]]) -> dict[str, float | None]:
    """LongBench-E's scores per length bucket, as its eval.py --e: {"0-4k", "4-8k", "8k+"} → round(100 ×
    mean, 2), the mean taken by numpy. A bucket with no record is None (eval.py writes NaN)."""
    import numpy as np

    _metric_for(task)
    buckets: dict[str, list[float]] = {name: [] for name in LONGBENCH_E_BUCKETS}
    for index, record in enumerate(records):
        record = canonical_record(task, record)
        problem = _record_problem(record, task)
        if problem:
            raise ValueError(f"record {index}: {problem}")
        if not _has_length(record):
            raise ValueError(f"record {index}: 'length' (the context's word count) must be a number")
        buckets[length_bucket(record["length"])].append(_score_valid_record(task, record))
    return {
        name: round(100 * float(np.mean(scores)), 2) if scores else None for name, scores in buckets.items()
    }


def _read_jsonl(path: Path, task: str | None = None) -> list[dict[str, Any]]:
    """Records of a JSONL file (blank lines skipped); ValueError names the file, line and reason."""
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
            problem = _record_problem(canonical_record(task, record) if task else record, task)
            if problem:
                raise ValueError(f"{path}:{lineno}: {problem}")
            records.append(record)
    return records


def score_file(task: str, path: Path) -> dict[str, Any]:
    """Score a JSONL file of predictions: {"task", "n", "score", "per_record"}, plus "length_buckets"
    (`longbench_e_scores`) when every record of a LongBench v1 task carries a numeric `length`, and
    "breakdown" (`longbench_v2.accuracy`: overall, easy, hard, short, medium, long) for LongBench v2
    records that carry `difficulty` and `length`."""
    _metric_for(task)
    records = _read_jsonl(Path(path), task)
    score, per_record = score_task(task, records)
    result: dict[str, Any] = {"task": task, "n": len(per_record), "score": score, "per_record": per_record}
    base = _base_task(task)
    if base == "longbench_v2":
        canonical = [canonical_record(task, record) for record in records]
        if canonical and all("difficulty" in r and ("length" in r or "length_class" in r) for r in canonical):
            result["breakdown"] = longbench_v2.accuracy(canonical)
    elif base not in _NOT_LONGBENCH_V1 and records and all(_has_length(record) for record in records):
        result["length_buckets"] = longbench_e_scores(task, records)
    return result

"""Answer scoring with the official LongBench v1 (English) and ∞Bench metrics.

Every metric takes ``(prediction, ground_truth, **kwargs)`` and returns a float in [0, 1]; a record scores the
best match over its gold answers, and a task scores ``round(100 * mean, 2)``.
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
    """∞Bench En.MC rule: does the free-text prediction pick an option named in ``label``?"""
    pred = prediction.strip()
    if not pred:
        return False
    if pred[0] in _MC_LETTERS:
        return pred[0] in label
    if pred in label:
        return True
    for ch in _MC_STRIP_CHARS:
        pred = pred.replace(ch, " ")
    for prefix in _MC_ANSWER_PREFIXES:
        if prefix in pred:
            after = pred[pred.index(prefix) + len(prefix) :].strip()
            return any(after.startswith(item) for item in label)
    for token in pred.split():
        if len(token) == 1 and token in _MC_LETTERS:
            return token in label
    return False


def infbench_mc_score(
    prediction: str, ground_truth: str, options: list[str] | None = None, **_: Any
) -> float:
    """1.0 when the prediction picks the gold option (by letter or text), else 0.0."""
    return 1.0 if _mc_choice_matches(prediction, _mc_label(ground_truth, options)) else 0.0


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
}
SUPPORTED_TASKS: tuple[str, ...] = tuple(sorted(TASK_METRICS))
FIRST_LINE_TASKS = frozenset({"trec", "triviaqa", "samsum", "lsht"})


def _metric_for(task: str) -> Metric:
    """The metric of ``task``, or ValueError naming the supported tasks."""
    try:
        return TASK_METRICS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; supported tasks: {', '.join(SUPPORTED_TASKS)}") from None


def score_record(
    task: str,
    prediction: str,
    answers: list[str],
    all_classes: list[str] | None = None,
    options: list[str] | None = None,
) -> float:
    """Best score of ``prediction`` over the gold ``answers`` under the task's metric, in [0, 1]."""
    metric = _metric_for(task)
    if task in FIRST_LINE_TASKS:
        prediction = prediction.lstrip("\n").split("\n")[0]
    best = 0.0
    for answer in answers:
        best = max(best, metric(prediction, answer, all_classes=all_classes, options=options))
    return best


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _record_problem(record: Any) -> str | None:
    """Why ``record`` cannot be scored, or None when it can."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    if not isinstance(record.get("pred"), str):
        return "'pred' must be a string"
    if not _is_str_list(record.get("answers")):
        return "'answers' must be a list of strings"
    for key in ("all_classes", "options"):
        if record.get(key) is not None and not _is_str_list(record[key]):
            return f"'{key}' must be a list of strings or null"
    return None


def _score_valid_record(task: str, record: dict[str, Any]) -> float:
    return score_record(
        task, record["pred"], record["answers"], record.get("all_classes"), record.get("options")
    )


def _aggregate(per_record: list[float]) -> float:
    """Task score: 100 × mean, rounded to 2 decimals; 0.0 for no records."""
    return round(100 * sum(per_record) / len(per_record), 2) if per_record else 0.0


def score_task(task: str, records: Iterable[dict[str, Any]]) -> tuple[float, list[float]]:
    """Score records with keys pred, answers (and optionally all_classes, options): (task score, per record)."""
    _metric_for(task)
    per_record: list[float] = []
    for index, record in enumerate(records):
        problem = _record_problem(record)
        if problem:
            raise ValueError(f"record {index}: {problem}")
        per_record.append(_score_valid_record(task, record))
    return _aggregate(per_record), per_record


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
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
            problem = _record_problem(record)
            if problem:
                raise ValueError(f"{path}:{lineno}: {problem}")
            records.append(record)
    return records


def score_file(task: str, path: Path) -> dict[str, Any]:
    """Score a JSONL file of predictions: {"task", "n", "score", "per_record"}."""
    _metric_for(task)
    score, per_record = score_task(task, _read_jsonl(Path(path)))
    return {"task": task, "n": len(per_record), "score": score, "per_record": per_record}

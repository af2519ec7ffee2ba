"""Load benchmark data: LongBench (v1, -E, v2) and ∞Bench files, corpus QA sets, and the generated `mini` set.

Records are read in each benchmark's own field names: LongBench v1/-E (`input`, `context`, `answers`, …),
LongBench v2 (`question`, `choice_A` … `choice_D`, `answer`, `difficulty`, `length`; JSONL or its `data.json`
array) and ∞Bench (`id`, `input`, `context`, `answer`, `options`).

Local files come first: a path, or `<data_dir>/datasets/<name>.jsonl`. Only when neither exists is the
data set fetched from the Hugging Face hub (`hub_fetch`: the one part of ragroute allowed online; `HF_ENDPOINT`
points it at a mirror). The file is written to a temporary name in the same folder and renamed into place only
once complete and parsed, so an interrupted download never leaves a file that a later run would use. Offline
(no network, or `HF_HUB_OFFLINE=1` / `RAGROUTE_HUB_OFFLINE=1`), the error says what to download and where to put
it. Malformed lines, and records that their metric cannot score (`scoring.unscorable`, e.g. a
passage_retrieval_en gold answer naming no "Paragraph N"), are reported (file, line, record, reason) and skipped
before any LLM call, never fatal.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from schemas.benchmarks import CorpusQuestion, Example
from schemas.collection import collection_name
from schemas.documents import QuarantineRecord
from schemas.errors import RagrouteError
from schemas.evaluation import ASKED, QUESTION_SET, REPLAYED_ASKS
from schemas.settings import Settings
from tasks.evaluation import hub_fetch, longbench_v2, mini, scoring
from tasks.questions.review import kept_questions
from warehouse import asks, manifest
from warehouse.db import session

LONG_BENCH_TASKS = {
    "narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "gov_report", "qmsum",
    "multi_news", "trec", "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
}  # fmt: skip
INFINITE_BENCH_FILES = {"infbench_en_qa": "longbook_qa_eng", "infbench_en_mc": "longbook_choice_eng"}
LONG_BENCH_V2 = "longbench_v2"


class DatasetUnavailable(RagrouteError):
    """The data set is neither on disk nor reachable."""


@dataclass
class LoadedDataset:
    name: str
    source: str
    examples: list[Example] = field(default_factory=list)
    questions: list[CorpusQuestion] = field(default_factory=list)
    problems: list[QuarantineRecord] = field(default_factory=list)


def _infbench_task(path: Path) -> str | None:
    for task, stem in INFINITE_BENCH_FILES.items():
        if stem in path.stem:
            return task
    return None


def _parse_line(record: object, path: Path, number: int) -> Example | CorpusQuestion:
    if not isinstance(record, dict):
        raise TypeError(f"a record must be a JSON object, not a JSON {type(record).__name__}")
    if longbench_v2.looks_like_v2(record):
        return longbench_v2.parse_record(record)
    if "question" in record and "context" not in record:
        record.setdefault("id", f"{path.stem}-{number}")
        return CorpusQuestion.model_validate(record)
    infbench = _infbench_task(path)
    if infbench or ("answer" in record and "answers" not in record):
        answer = record.get("answer")
        options = record.get("options") or None
        default = "infbench_en_mc" if options else "infbench_en_qa"
        return Example(
            _id=str(record.get("id", record.get("_id", f"{path.stem}-{number}"))),
            dataset=infbench or record.get("dataset", default),
            input=record["input"],
            context=record["context"],
            answers=answer if isinstance(answer, list) else [answer],
            options=options,
        )
    record.setdefault("_id", f"{path.stem}-{number}")
    dataset = record.get("dataset")
    if isinstance(dataset, str) and dataset.endswith("_e") and dataset[:-2] in LONG_BENCH_TASKS:
        # LongBench-E: the same task, prompt and metric; `length` gives the bucket.
        record["dataset"] = dataset[:-2]
    return Example.model_validate(record)


def _json_array(path: Path) -> list[object] | None:
    """The items of a file holding one JSON array (LongBench v2's data.json), or None for anything else (read
    line by line then, so that its bad lines are reported one by one)."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    if not head.startswith(b"["):
        return None
    try:
        items = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return items if isinstance(items, list) else None


def _entries(path: Path) -> Iterator[tuple[str, int, Callable[[], object]]]:
    """(where, number, read) per record: a JSON array's items (LongBench v2's `data.json`), else the file's
    non-empty lines; `read()` parses one, so a bad line fails alone."""
    items = _json_array(path)
    if items is not None:
        for index, item in enumerate(items):
            yield f"{path}[{index}]", index + 1, lambda item=item: item
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield f"{path}:{number}", number, lambda line=line: json.loads(line.decode("utf-8"))


def _unscorable(item: Example | CorpusQuestion, dataset: str, where: str) -> QuarantineRecord | None:
    """A record its metric cannot score (a corpus question is scored with token F1), as a problem naming the
    data set, the record and the reason; None when it can be scored."""
    if isinstance(item, CorpusQuestion):
        metric, why = "qa_f1_score", scoring.unscorable_by(scoring.qa_f1_score, item.answers)
    else:
        metric = item.dataset
        why = scoring.unscorable(item.dataset, item.answers, item.all_classes, item.options)
    if why is None:
        return None
    return QuarantineRecord(
        path=where, stage="dataset", reason=f"unscorable record: {why}"[:300],
        detail=f"data set {dataset}, record {item.id}: {metric} cannot score it: {why}"[:500],
    )  # fmt: skip


def load_jsonl(path: Path, name: str | None = None) -> LoadedDataset:
    """Read a LongBench, ∞Bench or corpus-QA JSONL file; bad lines become problems, not errors."""
    loaded = LoadedDataset(name=name or path.stem, source=str(path))
    for where, number, read in _entries(path):
        try:
            item = _parse_line(read(), path, number)
        except (UnicodeDecodeError, json.JSONDecodeError, ValidationError, KeyError, TypeError) as error:
            loaded.problems.append(QuarantineRecord(
                path=where, stage="dataset", reason=f"malformed record: {type(error).__name__}",
                detail=str(error)[:300],
            ))  # fmt: skip
            continue
        if problem := _unscorable(item, loaded.name, where):
            loaded.problems.append(problem)
            continue
        (loaded.questions if isinstance(item, CorpusQuestion) else loaded.examples).append(item)
    if not loaded.examples and not loaded.questions:
        raise DatasetUnavailable(
            f"{path} holds no usable record ({len(loaded.problems)} malformed record(s))"
        )
    return loaded


def _hub_source(name: str) -> tuple[str, str]:
    """The data set repository and file that hold task `name`."""
    if name == LONG_BENCH_V2:
        return "THUDM/LongBench-v2", "data.json"
    if name in INFINITE_BENCH_FILES:
        return "xinrongzhang2022/InfiniteBench", f"{INFINITE_BENCH_FILES[name]}.jsonl"
    return "THUDM/LongBench", "data.zip"


def _what_to_download(name: str) -> str:
    repo_id, filename = _hub_source(name)
    if filename == "data.zip":
        return f"data/{name}.jsonl out of data.zip of the Hugging Face data set {repo_id}"
    stored = " (a JSON array: JSONL lines also do)" if name == LONG_BENCH_V2 else ""
    return f"{filename} of the Hugging Face data set {repo_id}{stored}"


def _write_jsonl(name: str, downloaded: Path, out: BinaryIO) -> None:
    """Task `name`'s records, as JSONL, out of the file the hub delivered."""
    if name == LONG_BENCH_V2:  # one JSON array; stored here as JSONL like the others
        for item in json.loads(downloaded.read_bytes().decode("utf-8")):
            out.write(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n")
    elif name in INFINITE_BENCH_FILES:
        with downloaded.open("rb") as source:
            shutil.copyfileobj(source, out)
    else:  # LongBench v1: one member of data.zip (zipfile checks its CRC as it reads)
        with zipfile.ZipFile(downloaded) as bundle, bundle.open(f"data/{name}.jsonl") as source:
            shutil.copyfileobj(source, out)


def _store(name: str, downloaded: Path, target: Path) -> None:
    """Write the records to a temporary file beside `target`; rename it into place once complete and parsed."""
    handle, name_of_partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    partial = Path(name_of_partial)
    try:
        with os.fdopen(handle, "wb") as out:
            _write_jsonl(name, downloaded, out)
            out.flush()
            os.fsync(out.fileno())
        load_jsonl(partial, name)  # raises when nothing in it is usable
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


# A failed fetch, or a delivered file that is not what its task needs (bad zip, no such member, bad JSON).
_FETCH_ERRORS = (
    hub_fetch.HubFetchFailed,
    DatasetUnavailable,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    zipfile.BadZipFile,
)


def _from_hub(name: str, target: Path, settings: Settings) -> Path:
    """Fetch a LongBench or ∞Bench file from the Hugging Face hub (needs network) and store it at `target`."""
    repo_id, filename = _hub_source(name)
    try:
        _store(name, hub_fetch.fetch(repo_id, filename, settings), target)
    except _FETCH_ERRORS as error:
        raise DatasetUnavailable(
            f"data set {name!r} is not on disk and could not be fetched from the hub ({error}). Download "
            f"{_what_to_download(name)} and put it at {target}, or pass its path to --dataset. HF_ENDPOINT names "
            "a mirror of the hub."
        ) from error
    return target


def _question_set(collection: str, settings: Settings) -> LoadedDataset:
    """The collection's current kept questions (generated and validated, or reviewed)."""
    questions = kept_questions(settings, collection)
    if not questions:
        raise DatasetUnavailable(
            f"collection {collection!r} has no kept questions: run `ragroute questions generate --collection "
            f"{collection}` (after `ragroute ingest`)"
        )
    return LoadedDataset(name=f"{QUESTION_SET}{collection}", source="warehouse", questions=questions)


def _replayed_asks(collection: str, settings: Settings, limit: int) -> LoadedDataset:
    """The most recent distinct questions asked of the collection, without gold answers."""
    with session(settings.warehouse_target) as con:
        asked = asks.recent_questions(con, collection_name(collection, settings.embedding_model), limit)
    if not asked:
        raise DatasetUnavailable(f"no question was asked of collection {collection!r} yet (`ragroute ask`)")
    questions = [CorpusQuestion(id=f"ask-{sha[:16]}", question=question, answers=[]) for sha, question in asked]
    return LoadedDataset(name=f"{ASKED}{collection}", source="warehouse", questions=questions)


def load_dataset(name_or_path: str, settings: Settings, limit: int | None = None) -> LoadedDataset:
    """Resolve `mini`, a file path, a LongBench/∞Bench task name, a collection's question set or the questions
    asked of it, and load it."""
    folder = settings.data_dir / "datasets"
    path = Path(name_or_path)
    if name_or_path.startswith(QUESTION_SET):
        loaded = _question_set(name_or_path.removeprefix(QUESTION_SET), settings)
    elif name_or_path.startswith(ASKED):
        loaded = _replayed_asks(name_or_path.removeprefix(ASKED), settings, limit or REPLAYED_ASKS)
    elif name_or_path == "mini":
        path = mini.write_jsonl(mini.generate(), folder / "mini.jsonl")
        loaded = load_jsonl(path, "mini")
    elif path.suffix == ".jsonl" or path.exists():
        if not path.exists():
            raise DatasetUnavailable(f"data set file {path} does not exist")
        loaded = load_jsonl(path)
    elif (
        name_or_path in LONG_BENCH_TASKS
        or name_or_path in INFINITE_BENCH_FILES
        or name_or_path == LONG_BENCH_V2
    ):
        local = folder / f"{name_or_path}.jsonl"
        if not local.exists():
            folder.mkdir(parents=True, exist_ok=True)
            _from_hub(name_or_path, local, settings)
        loaded = load_jsonl(local, name_or_path)
    else:
        known = sorted(LONG_BENCH_TASKS | set(INFINITE_BENCH_FILES) | {"mini", LONG_BENCH_V2})
        raise DatasetUnavailable(
            f"unknown data set {name_or_path!r}: give a .jsonl path or one of {', '.join(known)}"
        )
    if limit is not None:
        loaded.examples = loaded.examples[:limit]
        loaded.questions = loaded.questions[:limit]
    return loaded


def load_and_quarantine(name_or_path: str, settings: Settings, limit: int | None = None) -> LoadedDataset:
    """`load_dataset`, with the malformed lines recorded in the quarantine table (once per line and reason)."""
    loaded = load_dataset(name_or_path, settings, limit)
    if loaded.problems:
        with session(settings.warehouse_target) as con:
            manifest.add_new_quarantine(con, f"dataset:{loaded.name}", loaded.problems)
    return loaded

"""Load benchmark data: LongBench (v1, -E, v2) and ∞Bench files, corpus QA sets, and the generated `mini` set.

Records are read in each benchmark's own field names: LongBench v1/-E (`input`, `context`, `answers`, …),
LongBench v2 (`question`, `choice_A` … `choice_D`, `answer`, `difficulty`, `length`; JSONL or its `data.json`
array) and ∞Bench (`id`, `input`, `context`, `answer`, `options`).

Local files come first: a path, or `<data_dir>/datasets/<name>.jsonl`. Only when neither exists is the
data set fetched from the Hugging Face hub, which needs network access; offline that fails with a message
saying where to put the file. Malformed lines are reported (file, line, reason) and skipped, never fatal.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from schemas.benchmarks import CorpusQuestion, Example
from schemas.documents import QuarantineRecord
from schemas.errors import RagrouteError
from schemas.settings import Settings
from tasks.evaluation import longbench_v2, mini
from warehouse import manifest
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
        (loaded.questions if isinstance(item, CorpusQuestion) else loaded.examples).append(item)
    if not loaded.examples and not loaded.questions:
        raise DatasetUnavailable(
            f"{path} holds no usable record ({len(loaded.problems)} malformed record(s))"
        )
    return loaded


def _from_hub(name: str, target: Path) -> Path:
    """Fetch a LongBench or ∞Bench file from the Hugging Face hub (needs network)."""
    from huggingface_hub import hf_hub_download

    try:
        if name == LONG_BENCH_V2:  # one JSON array; stored here as JSONL like the others
            downloaded = hf_hub_download("THUDM/LongBench-v2", "data.json", repo_type="dataset")
            items = json.loads(Path(downloaded).read_text(encoding="utf-8"))
            with target.open("w", encoding="utf-8") as out:
                for item in items:
                    out.write(json.dumps(item, ensure_ascii=False) + "\n")
        elif name in INFINITE_BENCH_FILES:
            downloaded = hf_hub_download(
                "xinrongzhang2022/InfiniteBench", f"{INFINITE_BENCH_FILES[name]}.jsonl", repo_type="dataset"
            )
            target.write_bytes(Path(downloaded).read_bytes())
        else:
            archive = hf_hub_download("THUDM/LongBench", "data.zip", repo_type="dataset")
            with zipfile.ZipFile(archive) as bundle:
                target.write_bytes(bundle.read(f"data/{name}.jsonl"))
    except Exception as error:
        raise DatasetUnavailable(
            f"data set {name!r} is not on disk and could not be fetched from the hub "
            f"({type(error).__name__}). Offline, download it elsewhere and put it at {target} "
            f"(LongBench: data/{name}.jsonl from THUDM/LongBench's data.zip; LongBench v2: data.json from "
            f"THUDM/LongBench-v2; ∞Bench: {INFINITE_BENCH_FILES.get(name, 'longbook_qa_eng')}.jsonl), "
            "or pass its path to --dataset."
        ) from error
    return target


def load_dataset(name_or_path: str, settings: Settings, limit: int | None = None) -> LoadedDataset:
    """Resolve `mini`, a file path, or a LongBench/∞Bench task name, and load it."""
    folder = settings.data_dir / "datasets"
    path = Path(name_or_path)
    if name_or_path == "mini":
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
            _from_hub(name_or_path, local)
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

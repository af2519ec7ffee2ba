"""Load benchmark data: LongBench and ∞Bench JSONL files, corpus QA sets, and the generated `mini` set.

Local files come first: a path, or `<data_dir>/datasets/<name>.jsonl`. Only when neither exists is the
data set fetched from the Hugging Face hub, which needs network access; offline that fails with a message
saying where to put the file. Malformed lines are reported (file, line, reason) and skipped, never fatal.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from schemas.benchmarks import CorpusQuestion, Example
from schemas.documents import QuarantineRecord
from schemas.errors import RagrouteError
from schemas.settings import Settings
from tasks.evaluation import mini
from warehouse import manifest
from warehouse.db import session

LONG_BENCH_TASKS = {
    "narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "gov_report", "qmsum",
    "multi_news", "trec", "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
}  # fmt: skip
INFINITE_BENCH_FILES = {"infbench_en_qa": "longbook_qa_eng", "infbench_en_mc": "longbook_choice_eng"}


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
    if "question" in record and "context" not in record:
        record.setdefault("id", f"{path.stem}-{number}")
        return CorpusQuestion.model_validate(record)
    infbench = _infbench_task(path)
    if infbench or ("answer" in record and "answers" not in record):
        answer = record.get("answer")
        return Example(
            _id=str(record.get("id", record.get("_id", f"{path.stem}-{number}"))),
            dataset=infbench or record.get("dataset", "infbench_en_qa"),
            input=record["input"],
            context=record["context"],
            answers=answer if isinstance(answer, list) else [answer],
            options=record.get("options") or None,
        )
    record.setdefault("_id", f"{path.stem}-{number}")
    return Example.model_validate(record)


def load_jsonl(path: Path, name: str | None = None) -> LoadedDataset:
    """Read a LongBench, ∞Bench or corpus-QA JSONL file; bad lines become problems, not errors."""
    loaded = LoadedDataset(name=name or path.stem, source=str(path))
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = _parse_line(json.loads(line.decode("utf-8")), path, number)
            except (UnicodeDecodeError, json.JSONDecodeError, ValidationError, KeyError, TypeError) as error:
                loaded.problems.append(QuarantineRecord(
                    path=f"{path}:{number}", stage="dataset",
                    reason=f"malformed record: {type(error).__name__}", detail=str(error)[:300],
                ))  # fmt: skip
                continue
            (loaded.questions if isinstance(item, CorpusQuestion) else loaded.examples).append(item)
    if not loaded.examples and not loaded.questions:
        raise DatasetUnavailable(f"{path} holds no usable record ({len(loaded.problems)} malformed line(s))")
    return loaded


def _from_hub(name: str, target: Path) -> Path:
    """Fetch a LongBench or ∞Bench file from the Hugging Face hub (needs network)."""
    from huggingface_hub import hf_hub_download

    try:
        if name in INFINITE_BENCH_FILES:
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
            f"(LongBench: data/{name}.jsonl from THUDM/LongBench's data.zip; ∞Bench: "
            f"{INFINITE_BENCH_FILES.get(name, 'longbook_qa_eng')}.jsonl), or pass its path to --dataset."
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
    elif name_or_path in LONG_BENCH_TASKS or name_or_path in INFINITE_BENCH_FILES:
        local = folder / f"{name_or_path}.jsonl"
        if not local.exists():
            folder.mkdir(parents=True, exist_ok=True)
            _from_hub(name_or_path, local)
        loaded = load_jsonl(local, name_or_path)
    else:
        known = sorted(LONG_BENCH_TASKS | set(INFINITE_BENCH_FILES) | {"mini"})
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
        with session(settings.warehouse_path) as con:
            manifest.add_new_quarantine(con, f"dataset:{loaded.name}", loaded.problems)
    return loaded

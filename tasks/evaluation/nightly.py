"""The nightly job's fingerprints: a hash of everything a step's result depends on (file contents, data set,
settings, code version). The nightly flow caches each step on its fingerprint, so unchanged work is skipped,
unless the step ended with something to retry (`to_retry`): then the next nightly runs it again, and an
evaluation resumes its run (the run id follows the fingerprint), answering only what failed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from schemas.collection import collection_name
from schemas.documents import IngestSummary
from schemas.evaluation import EvalConfig
from schemas.settings import Settings
from tasks.evaluation.datasets import load_and_quarantine
from tasks.evaluation.summary import EvalSummary, code_version
from tasks.ingestion.chunk import config_signature
from tasks.ingestion.sources import scan
from warehouse.db import session_for
from warehouse.questions import collection_documents


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def source_fingerprint(root: Path, settings: Settings, collection: str | None) -> str:
    """Changes when a file under `root` is added, edited or removed, or the ingest configuration changes."""
    files, problems = scan(root)
    return _digest(
        sorted((str(f.path), f.sha256) for f in files),
        sorted(p.path for p in problems),
        config_signature(settings),
        collection_name(collection or settings.collection, settings.embedding_model),
    )


def collection_state(settings: Settings, collection: str | None) -> list[tuple[str, str, str]]:
    """(doc id, content hash, status) of every document of the collection an evaluation retrieves from: its
    answers change when a document does, even when its questions do not."""
    if not collection:
        return []
    name = collection_name(collection, settings.embedding_model)
    with session_for(settings) as con:
        documents = collection_documents(con, name)
    return sorted((d.doc_id, d.content_sha256, d.status) for d in documents.values())


def data_fingerprint(items: Sequence[BaseModel], settings: Settings, collection: str | None) -> str:
    """What an evaluation reads, and nothing else: the examples (or the question set's questions) and the
    documents of the collection it retrieves from. Two runs are comparable only when theirs are the same."""
    records = [item.model_dump(mode="json") for item in items]
    return _digest(records, collection_state(settings, collection))[:16]


def dataset_fingerprint(evaluation: EvalConfig, settings: Settings) -> str:
    """Changes with the data, the evaluation's configuration, the documents of the collection it retrieves
    from, the model and endpoint, and the code."""
    loaded = load_and_quarantine(evaluation.dataset, settings, evaluation.limit)
    return _digest(
        data_fingerprint(loaded.examples + loaded.questions, settings, evaluation.collection),
        evaluation.with_defaults(settings).model_dump(exclude={"baseline", "max_cost_usd"}),
        settings.llm_model,
        settings.llm_base_url,
        settings.llm_context_tokens,
        settings.eval_chunk_words,
        settings.eval_hybrid_alpha,
        settings.embedding_model,
        code_version(),
    )


def run_id_for(fingerprint: str) -> str:
    """The evaluation run of a fingerprint: a rerun of the same work resumes it instead of starting over."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ragroute-nightly:{fingerprint}"))


def to_retry(summary: IngestSummary | EvalSummary) -> str | None:
    """What a step left to retry, said in words, or None when its result may be cached: documents left in
    `error` (the machine failed, not the file), or predictions that failed."""
    if isinstance(summary, IngestSummary):
        failed = summary.documents_error
        return f"{failed} document(s) left in error" if failed else None
    return f"{summary.errors} failed prediction(s)" if summary.errors else None

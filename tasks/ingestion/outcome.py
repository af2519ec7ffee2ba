"""What processing one changed file produced: its extraction `Outcome` and, once chunked, validated and
embedded, its `Prepared` part. Both cross process boundaries (local extraction processes, Dask workers)."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

from schemas.documents import Chunk, ExtractedDocument, QuarantineRecord
from tasks.ingestion.validate import ValidationReport


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (poppler renders scanned PDF pages in one)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Prepared:
    """Chunks of extracted files, the validation report over them, and one vector per passed chunk."""

    chunks_by_path: dict[Path, list[Chunk]] = field(default_factory=dict)
    report: ValidationReport = field(default_factory=lambda: ValidationReport(passed=[], quarantined=[]))
    vectors: list[list[float]] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # stage -> CPU seconds of this process


@dataclass
class Outcome:
    """What happened to one changed file during extraction.

    `document` when it was read; else `problem` says why not. `failed` tells the two kinds of problem apart:
    False, the file itself is bad (quarantined, its older chunks go); True, the machine failed (a missing
    program, a killed or out-of-memory worker, an unexpected error): the document is left in `error`, its
    older version stays searchable and the next run retries it."""

    path: Path
    sha256: str
    document: ExtractedDocument | None = None
    problem: QuarantineRecord | None = None
    # Chunks, validation and vectors, when they were made where the file was extracted (a Dask worker).
    prepared: Prepared | None = None
    cpu_seconds: float = 0.0  # extraction CPU seconds in the process that extracted it
    failed: bool = False

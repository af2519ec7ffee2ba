"""Extraction workers: changed files are extracted across a local process pool (one process when there is
one file or `RAGROUTE_INGEST_WORKERS` is 1)."""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from multiprocessing import get_context

from schemas.settings import Settings
from tasks.ingestion.extract import Outcome, extract_outcome
from tasks.ingestion.sources import ScannedFile


@lru_cache(maxsize=1)
def _extraction_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for extraction, started once per process and reused by later runs."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    atexit.register(pool.shutdown, wait=False, cancel_futures=True)
    return pool


def extract_all(changed: list[ScannedFile], settings: Settings) -> Iterator[Outcome]:
    """Extract changed files, across worker processes when there is more than one."""
    if len(changed) <= 1 or settings.ingest_workers <= 1:
        for item in changed:
            yield extract_outcome(item.path, item.sha256, settings)
        return
    pool = _extraction_pool(settings.ingest_workers)
    futures = [pool.submit(extract_outcome, item.path, item.sha256, settings) for item in changed]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for future in futures:
            future.cancel()

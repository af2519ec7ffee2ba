"""Extraction workers: changed files are extracted across a local process pool (in the ingest process when
`RAGROUTE_INGEST_WORKERS` is 1, or for one file before the pool has started), or on a Dask cluster when
`RAGROUTE_DASK_ADDRESS` is set.

In a local pool process, as on Dask, each file is extracted, OCR'd, chunked, validated and embedded where it
was read (one torch thread each: the other processes are busy with OCR), so the ingest process only writes.
On Dask each file is one task that extracts, OCRs, chunks, validates and embeds it on a worker, which reads
the file by its path: every worker must see the source folders at the same paths (a shared mount). Dask's
scheduler runs a task again on another worker when the worker running it dies; after
`distributed.scheduler.allowed-failures` deaths it gives up, and the file is recorded as failed (status
'error': its older version stays searchable and the next run retries it). A local extraction process that dies
(killed, out of memory) leaves the files it held in 'error' the same way. Writes to Weaviate and the manifest
stay in the ingest process.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from schemas.documents import QuarantineRecord
from schemas.errors import RagrouteError
from schemas.settings import Settings, apply_library_environment
from tasks.ingestion.extract import extract_outcome
from tasks.ingestion.ocr_tools import missing_ocr_tools, missing_tools_warning
from tasks.ingestion.outcome import Outcome
from tasks.ingestion.prepare import prepare
from tasks.ingestion.sources import ScannedFile


class DaskUnavailable(RagrouteError):
    """The Dask scheduler cannot be reached, or a worker cannot see the files; the run stops, a rerun redoes
    what was not recorded."""


class SourceNotVisible(Exception):
    """A Dask worker cannot read a file by the path the ingest process scanned."""


@lru_cache(maxsize=1)
def _extraction_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for extraction, started once per process and reused by later runs."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    atexit.register(pool.shutdown, wait=False, cancel_futures=True)
    return pool


def extract_all(
    changed: list[ScannedFile], settings: Settings, signature: str
) -> Generator[Outcome, None, None]:
    """Extract changed files: on the Dask cluster when one is configured, else across local processes, each
    of which also chunks, validates and embeds the files it extracted (as a Dask worker does), so that the
    ingest process only writes. One file is extracted in this process (left for the ingest process to
    prepare), unless the process pool runs already. The pool starts on the files at once; closing the
    generator cancels what it has not started."""
    if settings.dask_address and changed:
        return _extract_on_dask(changed, settings, signature)
    pool_running = _extraction_pool.cache_info().currsize > 0
    if (len(changed) <= 1 and not pool_running) or settings.ingest_workers <= 1:
        return (extract_outcome(item.path, item.sha256, settings) for item in changed)
    outcomes = _extract_in_pool(changed, settings, signature)
    next(outcomes)  # submits every file
    return outcomes


def _extract_in_pool(
    changed: list[ScannedFile], settings: Settings, signature: str
) -> Generator[Outcome | None, None, None]:
    """Submit every file to the local pool, yield None, then each file's outcome as it is done."""
    pool = _extraction_pool(settings.ingest_workers)
    futures = {
        pool.submit(prepared_outcome, item.path, item.sha256, settings, signature): item for item in changed
    }
    try:
        yield None
        for future in as_completed(futures):
            yield _pool_outcome(future, futures[future], pool)
    finally:
        for future in futures:
            future.cancel()


def _pool_outcome(future: Future, item: ScannedFile, pool: ProcessPoolExecutor) -> Outcome:
    """The file's outcome; when an extraction process died (killed, out of memory) the pool is broken: every
    file it held fails (status 'error') and the next run starts a new pool."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        _extraction_pool.cache_clear()
        pool.shutdown(wait=False, cancel_futures=True)
        reason = "extraction failed: an extraction process died (killed or out of memory)"
        problem = QuarantineRecord(
            path=str(item.path), stage="extract", reason=reason, detail=str(error)[:500]
        )
        return Outcome(item.path, item.sha256, problem=problem, failed=True)


def missing_ocr_tools_warnings(settings: Settings) -> list[str]:
    """A warning naming what OCR lacks (language data, programs) where files are extracted: this machine, or
    each group of Dask workers that lacks the same."""
    if not settings.dask_address:
        warning = missing_tools_warning(missing_ocr_tools(settings))
        return [warning] if warning else []
    client = dask_client(settings.dask_address, settings.dask_connect_timeout_s)
    by_missing: dict[tuple[str, ...], list[str]] = {}
    for worker, missing in client.run(missing_ocr_tools, settings).items():
        if missing:
            by_missing.setdefault(tuple(missing), []).append(worker)
    return [
        missing_tools_warning(list(missing), f" on Dask worker(s) {', '.join(sorted(workers))}")
        for missing, workers in by_missing.items()
    ]


def extract_and_prepare(path: Path, sha256: str, settings: Settings, signature: str) -> Outcome:
    """One Dask task: extract one file and chunk, validate and embed it, on the worker that runs it."""
    apply_library_environment()  # offline model loading, one OCR thread: before the libraries load
    if not os.access(path.parent, os.F_OK):
        raise SourceNotVisible(
            f"Dask worker on {socket.gethostname()} cannot see {path.parent}: mount the source folder at the "
            "same path on every worker"
        )
    return prepared_outcome(path, sha256, settings, signature)


def prepared_outcome(path: Path, sha256: str, settings: Settings, signature: str) -> Outcome:
    """Extract one file, then chunk, validate and embed it in the same process (a local extraction process
    or a Dask worker), with one torch thread."""
    outcome = extract_outcome(path, sha256, settings)
    if outcome.document is not None:
        _one_torch_thread()
        outcome.prepared = prepare([outcome], settings, signature)
    return outcome


@lru_cache(maxsize=1)
def _one_torch_thread() -> None:
    """Each task of a worker embeds on one core: the worker's other threads (and the other worker processes
    on the host) are busy with OCR, and more threads than cores slow everyone down."""
    import torch

    torch.set_num_threads(1)


_dask_clients: dict[tuple[str, float], object] = {}  # (address, timeout) -> distributed.Client


def dask_client(address: str, timeout_s: float):
    """A client of the Dask scheduler at `address`, made once per process (closed at exit)."""
    from distributed import Client

    if (address, timeout_s) in _dask_clients:
        return _dask_clients[address, timeout_s]
    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise DaskUnavailable(
            f"cannot reach the Dask scheduler at {address} ({type(error).__name__}: {error}); start it "
            "(`dask scheduler`) or unset RAGROUTE_DASK_ADDRESS to extract locally"
        ) from error
    if not _dask_clients:
        atexit.register(close_dask_clients)
    _dask_clients[address, timeout_s] = client
    return client


def close_dask_clients() -> None:
    """Close this process's Dask clients. Called at exit, and by whoever stops a scheduler for good (a test
    cluster's teardown) first: a client left connected keeps reconnecting, and logging, until exit."""
    while _dask_clients:
        _dask_clients.popitem()[1].close()


def _extract_on_dask(changed: list[ScannedFile], settings: Settings, signature: str) -> Iterator[Outcome]:
    """One task per file on the Dask cluster, yielded as they finish; a file whose task failed (its workers
    kept dying) comes back as an outcome with a problem."""
    from distributed import as_completed as dask_completed

    client = dask_client(settings.dask_address, settings.dask_connect_timeout_s)
    by_key = {}
    futures = []
    for item in changed:
        future = client.submit(extract_and_prepare, item.path, item.sha256, settings, signature, pure=False)
        by_key[future.key] = item
        futures.append(future)
    try:
        for future in dask_completed(futures, loop=client.loop):
            yield _dask_outcome(future, by_key[future.key], settings)
    finally:
        with contextlib.suppress(Exception):  # the scheduler may be gone
            client.cancel([future for future in futures if not future.done()])


def _dask_outcome(future, item: ScannedFile, settings: Settings) -> Outcome:
    try:
        return future.result()
    except SourceNotVisible as error:
        raise DaskUnavailable(str(error)) from error
    except OSError as error:  # the connection to the scheduler broke
        raise DaskUnavailable(
            f"lost the Dask scheduler at {settings.dask_address} ({type(error).__name__}: {error}); "
            "documents not recorded as indexed are redone by the next run"
        ) from error
    except Exception as error:  # KilledWorker: the workers running it kept dying
        reason = f"extraction failed on the Dask cluster: {type(error).__name__}"
        problem = QuarantineRecord(
            path=str(item.path), stage="extract", reason=reason, detail=str(error)[:500]
        )
        return Outcome(item.path, item.sha256, problem=problem, failed=True)

"""Helpers for the convergence tests: snapshots of one collection (Weaviate objects and manifest rows), and
ingest processes that report checkpoints and can be held at one to be killed with SIGKILL.

`python -m tests.support.convergence` is a fork server: it imports the ingest stack once (starting no thread of
its own), prints READY, then for each stdin line `ROOT COLLECTION N` forks a process that ingests ROOT into COLLECTION,
printing `PID p` first and `EVENT n label` at each checkpoint (before every Weaviate write or delete and every
manifest write), and holds at checkpoint N (0: never); the server prints `EXIT status` once it has ended.
Forking saves each trial an interpreter start and about 30 s of imports.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from schemas.collection import collection_name
from schemas.settings import PROJECT_ROOT, Settings
from tasks.clients.vectorstore import connect
from warehouse.db import connect as warehouse_connect
from warehouse.db import session

Checkpoint = Callable[[str], None]

# Extraction in the calling process and small batches: more distinct points between writes.
CHILD_ENV = {"RAGROUTE_INGEST_WORKERS": "1", "RAGROUTE_INGEST_BATCH_DOCUMENTS": "2"}
CHILD_TIMEOUT_S = 300.0
# No thread pools in the fork server (BLAS, OpenMP, tokenizers): forking is only safe single-threaded.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip


# One small file of each kind the trials use.
WARM_UP_FILES = {
    "warm.md": "# Warm up\n\nA short note about the harbour.",
    "warm.html": "<html><body><p>A short note about the harbour.</p></body></html>",
    "warm.txt": "A short note about the harbour.",
}


def warm_up(settings: Settings, folder: Path) -> None:
    """Pay this process's first-call costs (model, parsers, validation suite) with a small ingest."""
    from tasks.ingestion.run import ingest

    write_folder(folder, WARM_UP_FILES)
    ingest(folder, child_settings(settings), "WarmUp")


def child_settings(settings: Settings) -> Settings:
    """`settings` as the forked ingest processes see them (same ports and data dir, plus CHILD_ENV)."""
    return settings.model_copy(update={"ingest_workers": 1, "ingest_batch_documents": 2})


@dataclass(frozen=True)
class State:
    """What a clean run must leave behind: Weaviate objects and manifest rows (without run ids and times)."""

    objects: dict[str, dict]
    documents: list[tuple]
    chunks: list[tuple]


# Manifest columns that a clean run determines (not run ids, times, or the collection's name).
DOCUMENT_COLUMNS = (
    "path, doc_id, source_root, content_sha256, config_signature, status, kind, pages, pages_ocr, chunk_count"
)
CHUNK_COLUMNS = "chunk_id, doc_id, path, chunk_index, page, n_words, content_hash, ocr, ocr_confidence"


def snapshot(settings: Settings, base: str) -> State:
    """The collection's objects and manifest rows; chunk ids do not depend on the collection, so runs into
    different collections compare equal when they did the same work."""
    name = collection_name(base, settings.embedding_model)
    with connect(settings) as client:
        objects = {str(o.uuid): o.properties for o in client.collections.use(name).iterator()}
    with warehouse_connect(settings.warehouse_target, read_only=True) as con:
        documents = con.execute(
            f"SELECT {DOCUMENT_COLUMNS} FROM documents WHERE collection = ? ORDER BY path", [name]
        ).fetchall()
        chunks = con.execute(
            f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE collection = ? ORDER BY chunk_id", [name]
        ).fetchall()
    return State(objects, documents, chunks)


def forget_manifest(settings: Settings, base: str) -> None:
    """Drop the collection's manifest rows. The manifest keys documents by path alone, so a later run of the
    same folder into another collection would otherwise take over (and change) these rows."""
    name = collection_name(base, settings.embedding_model)
    with session(settings.warehouse_target) as con:
        con.execute("DELETE FROM chunks WHERE collection = ?", [name])
        con.execute("DELETE FROM documents WHERE collection = ?", [name])


def differences(state: State, reference: State) -> list[str]:
    """Human-readable differences from the reference, plus Weaviate/manifest disagreements within `state`."""
    found = []
    extra, missing = (
        state.objects.keys() - reference.objects.keys(),
        reference.objects.keys() - state.objects.keys(),
    )
    changed = [
        u for u in state.objects.keys() & reference.objects.keys() if state.objects[u] != reference.objects[u]
    ]
    for label, uuids in (
        ("extra objects", extra),
        ("missing objects", missing),
        ("changed objects", changed),
    ):
        if uuids:
            paths = sorted({Path((state.objects | reference.objects)[u]["source_path"]).name for u in uuids})
            found.append(f"{len(uuids)} {label} (files {', '.join(paths)})")
    for label, rows, expected in (
        ("documents", state.documents, reference.documents),
        ("chunks", state.chunks, reference.chunks),
    ):
        if rows != expected:
            found.append(f"manifest {label} differ: {sorted(set(rows) ^ set(expected))[:6]}")
    listed = {row[0] for row in state.chunks}
    unlisted, absent = state.objects.keys() - listed, listed - state.objects.keys()
    if unlisted or absent:
        files = sorted({Path(state.objects[u]["source_path"]).name for u in unlisted})
        files += sorted({Path(row[2]).name for row in state.chunks if row[0] in absent})
        found.append(
            f"Weaviate and manifest disagree: {len(unlisted)} unlisted object(s), {len(absent)} listed "
            f"chunk(s) missing from Weaviate (files {', '.join(files)})"
        )
    return found


def write_folder(root: Path, files: dict[str, str]) -> None:
    """Make `root` hold exactly `files` (name -> text)."""
    root.mkdir(parents=True, exist_ok=True)
    for path in root.iterdir():
        if path.name not in files:
            path.unlink()
    for name, text in files.items():
        path = root / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def install_checkpoints(patch: pytest.MonkeyPatch, checkpoint: Checkpoint) -> None:
    """Call `checkpoint(label)` before every Weaviate write or delete and every manifest write of a run."""
    import tasks.ingestion.run
    from warehouse import manifest

    def wrap(owner: object, name: str, describe: Callable[..., str]) -> None:
        original = getattr(owner, name)  # a renamed function fails here, loudly

        def wrapper(*args, **kwargs):
            checkpoint(describe(*args, **kwargs))
            return original(*args, **kwargs)

        patch.setattr(owner, name, wrapper)

    wrap(manifest, "start_run", lambda *a, **k: "before the run is recorded (nothing written yet)")
    wrap(tasks.ingestion.run, "write_objects", lambda *a, **k: "before a Weaviate batch write")
    wrap(tasks.ingestion.run, "delete_where", lambda *a, **k: "before a Weaviate delete")
    wrap(
        manifest,
        "record_document",
        lambda c, r, version, *a, **k: f"before recording {Path(version.path).name}",
    )
    wrap(manifest, "forget_document", lambda c, path, *a, **k: f"before forgetting {Path(path).name}")
    wrap(manifest, "finish_run", lambda *a, **k: "before the run is marked finished (all work done)")


def progress_checkpoints(checkpoint: Checkpoint) -> Callable[[str, int, int], None]:
    """A progress callback that turns each report (scan done, file extracted) into a checkpoint."""
    return lambda message, done, total: checkpoint(
        "scan done" if message == "scanned" else f"extracted {message} ({done}/{total})"
    )


def ingest_recording(root: Path, settings: Settings, base: str) -> tuple[list[str], float]:
    """A clean in-process ingest with checkpoints counted: their labels and the seconds between the first and
    the last (the same sequence the subprocess reports for the same folder and manifest)."""
    from tasks.ingestion.run import ingest

    labels: list[str] = []
    stamps: list[float] = []

    def checkpoint(label: str) -> None:
        labels.append(label)
        stamps.append(time.monotonic())

    with pytest.MonkeyPatch.context() as patch:
        install_checkpoints(patch, checkpoint)
        summary = ingest(root, child_settings(settings), base, progress_checkpoints(checkpoint))
    assert summary.status in ("completed", "completed_with_failures"), summary
    return labels, stamps[-1] - stamps[0]


@dataclass
class KilledRun:
    """What the ingest process reported before it was killed."""

    events: list[str] = field(default_factory=list)
    killed_by: str = ""

    @property
    def landed(self) -> str:
        return self.events[-1] if self.events else "before the first checkpoint"


class IngestForks:
    """The fork server (see the module docstring) and the ingest processes it forks, one at a time."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.convergence"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **CHILD_ENV, **SINGLE_THREADED},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=_pump, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=lambda: self.errors.extend(self.process.stderr), daemon=True).start()
        self.ready = False  # it imports while the caller does other work
        self.child: int | None = None  # the forked ingest process, while it runs

    def kill_run(self, root: Path, base: str, pause_at: int, delay_s: float | None = None) -> KilledRun:
        """Ingest `root` into `base` in a forked process; SIGKILL it when it holds at checkpoint `pause_at`,
        or `delay_s` seconds after its first checkpoint, whichever comes first."""
        if not self.ready:
            self.ready = self._next_line(CHILD_TIMEOUT_S) == "READY"
            assert self.ready, self._failure("the fork server did not start")
        self.process.stdin.write(f"{root} {base} {pause_at}\n")
        self.process.stdin.flush()
        run, kill_at = KilledRun(), None
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not run.killed_by:
            line = self._next_line((kill_at or deadline) - time.monotonic())
            if line == "" and kill_at:
                run.killed_by = "timer"
            elif line.startswith("PID "):
                self.child = int(line.split()[1])
            elif line.startswith("EVENT "):
                run.events.append(line.split(" ", 2)[2])
                kill_at = kill_at or (time.monotonic() + delay_s if delay_s is not None else None)
            elif line == "PAUSED":
                run.killed_by = "checkpoint"
            else:
                raise AssertionError(
                    self._failure(f"no kill point {pause_at} reached: {line!r} {run.events[-3:]}")
                )
        os.kill(self.child, signal.SIGKILL)
        while not (line := self._next_line(60)).startswith("EXIT "):
            assert line, self._failure("the killed ingest process was not reaped")
        self.child = None
        assert int(line.split()[1]) == -signal.SIGKILL, line
        return run

    def close(self) -> None:
        """End a forked process still running (after a failed trial), then the server."""
        if self.child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signal.SIGKILL)
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _next_line(self, timeout_s: float) -> str:
        """The next output line; '' when none came within `timeout_s`."""
        try:
            line = self.lines.get(timeout=max(timeout_s, 0))
        except queue.Empty:
            return ""
        assert line is not None, self._failure("the fork server ended")
        return line

    def _failure(self, message: str) -> str:
        return f"{message}; stderr: {''.join(self.errors)[-3000:]}"


def _pump(stream, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def serve_forks() -> None:
    """The fork server's loop (see the module docstring)."""
    import duckdb  # noqa: F401  (DuckDB 1.5 starts one idle native thread at import, before anything forks)

    native = len(os.listdir("/proc/self/task"))
    import great_expectations  # noqa: F401  (the heavy imports an ingest makes, paid once here)
    import sentence_transformers  # noqa: F401
    from unstructured.partition.auto import partition

    import tasks.ingestion.run  # noqa: F401

    with tempfile.TemporaryDirectory() as folder:
        write_folder(Path(folder), WARM_UP_FILES)
        for name in WARM_UP_FILES:
            partition(filename=str(Path(folder) / name))  # the parsers' own lazy imports
    print("READY", flush=True)
    for command in sys.stdin:
        root, base, pause_at = command.split()
        threads = os.listdir("/proc/self/task")
        assert len(threads) == native, (
            f"the fork server must not start threads before it forks: has {len(threads)}, {native} after "
            "importing duckdb"
        )
        pid = os.fork()
        if pid == 0:
            _forked_ingest(Path(root), base, int(pause_at))
        _, status = os.waitpid(pid, 0)
        print(f"EXIT {os.waitstatus_to_exitcode(status)}", flush=True)


def _forked_ingest(root: Path, base: str, pause_at: int) -> None:
    """Body of a forked ingest process; it never returns."""
    from schemas.settings import get_settings
    from tasks.ingestion.run import ingest

    code = 1
    try:
        print(f"PID {os.getpid()}", flush=True)
        counter = itertools.count(1)

        def checkpoint(label: str) -> None:
            number = next(counter)
            print(f"EVENT {number} {label}", flush=True)
            if number == pause_at:
                print("PAUSED", flush=True)
                time.sleep(CHILD_TIMEOUT_S)

        with pytest.MonkeyPatch.context() as patch:
            install_checkpoints(patch, checkpoint)
            summary = ingest(root, get_settings(), base, progress_checkpoints(checkpoint))
        print(f"DONE {summary.status}", flush=True)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


if __name__ == "__main__":
    serve_forks()

"""A cache that cannot be written never costs an answer nor holds up the event loop, over real parts: the
local model, a SQLite cache file whose write lock another connection holds, and a DuckLake cache whose catalog
PostgreSQL is stopped mid-run and started again."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

from schemas.settings import Settings
from tasks.clients.llm import LLM, Completion
from tasks.testbed.postgres import POSTGRES_PORT_BASE, bin_dir, lake_target, postgres_server
from tests.conftest import PORT_OFFSET

PROMPTS = ["Name one colour. One word.", "Name one animal. One word."]
CACHE_PORT = POSTGRES_PORT_BASE + PORT_OFFSET + 50  # a server of this test's own, stopped and started by it


def _cache_warnings(caplog) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "ragroute.llm" and r.levelno == logging.WARNING
    ]


def _cached_rows(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return db.execute("SELECT count(*) FROM responses").fetchone()[0]


async def _answer(llm: LLM, prompts: list[str]) -> list[Completion]:
    return list(await asyncio.gather(*(llm.complete(prompt, 8) for prompt in prompts)))


def _complete_all(settings: Settings, prompts: list[str]) -> list[Completion]:
    async def run() -> list[Completion]:
        llm = LLM(settings)
        try:
            return await _answer(llm, prompts)
        finally:
            await llm.aclose()

    return asyncio.run(run())


def test_a_locked_cache_file_holds_up_no_answer_and_a_failed_write_keeps_it(
    running_services, tmp_path, caplog
):
    settings = running_services.model_copy(update={"data_dir": tmp_path})
    cache_file = tmp_path / "llm_cache.sqlite"
    ticks = 0

    async def tick_until(done: asyncio.Event) -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.05)

    async def run() -> list[Completion]:
        llm = LLM(settings)
        with closing(sqlite3.connect(cache_file, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")  # another process's writer holds the cache's write lock
            answers = await _answer(llm, PROMPTS)  # come back while their writes wait for the lock
            closed = asyncio.Event()
            ticker = asyncio.ensure_future(tick_until(closed))
            await llm.aclose()  # the writes give up waiting, are logged, and the answers stay
            closed.set()
            await ticker
            other.execute("ROLLBACK")
        return answers

    with caplog.at_level(logging.WARNING, logger="ragroute.llm"):
        answers = asyncio.run(run())
    assert all(a.ok and a.text.strip() and not a.cached for a in answers), answers
    assert ticks > 1  # the event loop served other work while the writes waited for the lock
    warnings = _cache_warnings(caplog)
    assert len(warnings) == len(PROMPTS), warnings
    assert all(
        "LLM cache write of" in w and "answer kept" in w and "database is locked" in w for w in warnings
    )
    assert _cached_rows(cache_file) == 0

    # Unlocked: asked again (nothing was cached), the same answers, now written; then they come from the cache.
    again = _complete_all(settings, PROMPTS)
    assert [a.text for a in again] == [a.text for a in answers] and not any(a.cached for a in again)
    assert _cached_rows(cache_file) == len(PROMPTS)
    assert all(a.cached for a in _complete_all(settings, PROMPTS))


def _pg_ctl(base: Path, *arguments: str) -> None:
    command = [str(bin_dir() / "pg_ctl"), "-D", str(base / "data"), "-w", *arguments]
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True)


def test_a_stopped_cache_catalog_costs_the_cache_not_the_answers(running_services, tmp_path, caplog):
    base = Path(tempfile.mkdtemp(prefix="ragroute-pg-"))  # a folder PostgreSQL's own user can reach
    options = f"-p {CACHE_PORT} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    with postgres_server(base, CACHE_PORT) as dsn:
        lake = lake_target(dsn, "cache_lake", tmp_path / "lake")
        settings = running_services.model_copy(
            update={"warehouse": lake.attach, "warehouse_data_path": lake.data_path, "data_dir": tmp_path}
        )
        [first] = _complete_all(settings, PROMPTS[:1])  # written to the shared cache

        async def across_the_outage() -> list[Completion]:
            llm = LLM(settings)
            try:
                _pg_ctl(base, "-m", "fast", "stop")  # the catalog goes away mid-run
                during = await _answer(llm, PROMPTS)
            finally:
                await llm.aclose()
            return during

        with caplog.at_level(logging.WARNING, logger="ragroute.llm"):
            during = asyncio.run(across_the_outage())
        _pg_ctl(base, "-o", options, "-l", str(base / "server.log"), "start")

        assert all(a.ok and a.text.strip() and not a.cached for a in during), during
        assert during[0].text == first.text  # the cached answer could not be read: asked again, same answer
        warnings = _cache_warnings(caplog)
        assert sum("LLM cache read of" in w for w in warnings) == len(PROMPTS), warnings
        assert sum("LLM cache write of" in w and "answer kept" in w for w in warnings) == len(PROMPTS), (
            warnings
        )

        # The catalog is back: the first answer is still cached, the second (whose write failed) is asked
        # again and written, then both come from the cache.
        after = _complete_all(settings, PROMPTS)
        assert [a.cached for a in after] == [True, False]
        assert [a.text for a in after] == [a.text for a in during]
        assert all(a.cached for a in _complete_all(settings, PROMPTS))

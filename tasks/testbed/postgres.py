"""A real PostgreSQL server for the tests and benchmarks: `initdb` into a temporary folder, `pg_ctl` on a
loopback port, stopped at the end. PostgreSQL refuses to run as root: as root, its commands run as the
`postgres` user."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.settings import DuckLakeTarget

POSTGRES_PORT_BASE = 15432


def bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: run `make setup`")
    return Path(initdb).resolve().parent


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    subprocess.run(_as_postgres(command), check=True, capture_output=True, text=True)


@contextmanager
def postgres_server(base: Path, port: int) -> Iterator[str]:
    """A running server; yields the libpq connection string of its `postgres` superuser."""
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, pg = base / "data", bin_dir()
    _run([str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    _run([str(pg / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "start"])
    try:
        yield f"host=127.0.0.1 port={port} user=postgres"
    finally:
        _run([str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])


def restart_server(base: Path) -> None:
    """Restart the server of `postgres_server(base, …)` the fast way (open connections are cut), waiting until it
    accepts connections again."""
    data, log = base / "data", base / "server.log"
    _run([str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-l", str(log), "-w", "restart"])


def create_database(dsn: str, name: str) -> str:
    """Create a database on the server; returns its connection string."""
    params = dict(part.split("=", 1) for part in dsn.split())
    psql = [str(bin_dir() / "psql"), "-h", params["host"], "-p", params["port"], "-U", params["user"]]
    subprocess.run([*psql, "-q", "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    return f"dbname={name} {dsn}"


def lake_target(dsn: str, name: str, data_root: Path) -> DuckLakeTarget:
    """A fresh DuckLake warehouse: a new catalog database and an empty data folder."""
    catalog = create_database(dsn, name)
    return DuckLakeTarget(f"ducklake:postgres:{catalog}", f"{data_root / name}/")

"""Source folders: which paths may be read, and a scan of a folder into files with their content hashes.

Symbolic links are followed only to files inside the folder; a link out of it, a broken link or a loop, named
pipes and devices become quarantine records and are never opened.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from schemas.documents import QuarantineRecord
from schemas.errors import RagrouteError
from schemas.settings import Settings
from tasks.ingestion.hashing import file_sha256


class SourceUnavailable(RagrouteError):
    """The source folder cannot be read; nothing is changed."""


class OutsideSourceRoots(RagrouteError):
    """A path lies outside the configured source roots (`RAGROUTE_SOURCE_ROOTS`); nothing is read."""


def ensure_within_source_roots(path: Path, settings: Settings) -> Path:
    """The resolved `path`, or `OutsideSourceRoots` when source roots are configured and it is under none."""
    resolved = path.resolve()
    roots = [root.resolve() for root in settings.source_roots]
    if roots and not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise OutsideSourceRoots(
            f"{path} is outside the configured source roots ({', '.join(map(str, roots))}); "
            "add it to RAGROUTE_SOURCE_ROOTS to ingest it"
        )
    return resolved


@dataclass
class ScannedFile:
    path: Path
    sha256: str


def scan(root: Path, within: Path | None = None) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Every regular file under `root` with its content hash; unreadable entries become quarantine records.
    Symbolic links are followed only to files under `within` (default: `root`)."""
    if not root.is_dir():
        raise SourceUnavailable(f"source folder {root} does not exist or is not a folder")
    paths = []
    for directory, folders, names in os.walk(root, onerror=_raise_unavailable):
        folders.sort()  # a stable order: the first of two identical files is always the same one
        paths += [Path(directory) / name for name in sorted(names)]
    return scan_entries(paths, within or root)


def scan_entries(paths: list[Path], root: Path) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Hash each path; one that is not a readable regular file under `root` becomes a quarantine record.
    A symbolic link to a file under `root` stands for that file (listed once)."""
    files, problems, seen = [], [], set()
    for path in paths:
        reason = None
        try:
            reason = _entry_problem(path, root)
            if reason is None and (resolved := path.resolve()) not in seen:
                files.append(ScannedFile(path=resolved, sha256=file_sha256(path)))
                seen.add(resolved)
        except PermissionError:
            reason = "file is not readable (permission denied)"
        except FileNotFoundError:
            reason = "file disappeared while the folder was scanned"
        except OSError as error:
            reason = f"cannot read file: {error}"
        if reason:
            problems.append(QuarantineRecord(path=str(path), stage="scan", reason=reason))
    return files, problems


def scan_paths(root: Path, paths: list[Path]) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Like `scan`, for chosen files or folders under `root`; a path that no longer exists is skipped."""
    if not root.is_dir():
        raise SourceUnavailable(f"source folder {root} does not exist or is not a folder")
    files, problems = [], []
    for path in paths:
        if path.is_dir():
            found, trouble = scan(path, within=root)
        elif path.exists() or path.is_symlink():
            found, trouble = scan_entries([path], root)
        else:
            continue
        files += found
        problems += trouble
    return files, problems


def _entry_problem(path: Path, root: Path) -> str | None:
    """Why `path` is not read: a link that leads nowhere, in a loop or out of `root` (its target is never
    opened), or something other than a regular file. None for a file to read."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return f"broken symbolic link: its target {os.readlink(path)} does not exist"
        except (RuntimeError, OSError):  # Python raises RuntimeError for a loop before 3.13, OSError after
            return "symbolic link loop"
        if not target.is_relative_to(root):
            return f"symbolic link to a file outside the source folder: {target} (not read)"
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    kind = "named pipe" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device or other"
    return f"not a regular file ({kind})"


def selected(path: Path, chosen: list[Path]) -> bool:
    """`path` is one of `chosen` or lies under one of them."""
    return any(path == c or path.is_relative_to(c) for c in chosen)


def _raise_unavailable(error: OSError) -> None:
    raise SourceUnavailable(f"cannot read source folder: {error}") from error

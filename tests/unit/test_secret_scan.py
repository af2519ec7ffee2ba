"""The secret scan used by the secrets tests finds a planted key."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

SECURED_HTTP_PORT, SECURED_GRPC_PORT = 19110, 19120


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    """Every file under `folder` whose bytes contain `needle`."""
    found = []
    for directory, _, names in os.walk(folder):
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found


def test_the_scan_finds_a_planted_key(tmp_path):
    needle = uuid.uuid4().hex.encode()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "blob.bin").write_bytes(b"\x00\x01" + needle + b"\xff")
    (tmp_path / "clean.txt").write_text("nothing here")
    assert files_containing(tmp_path, needle) == [tmp_path / "deep" / "er" / "blob.bin"]

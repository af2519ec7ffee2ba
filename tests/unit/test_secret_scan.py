"""The secret scan used by the secrets tests finds a planted key."""

from __future__ import annotations

import uuid

from tests.support.readers import files_containing


def test_the_scan_finds_a_planted_key(tmp_path):
    needle = uuid.uuid4().hex.encode()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "blob.bin").write_bytes(b"\x00\x01" + needle + b"\xff")
    (tmp_path / "clean.txt").write_text("nothing here")
    assert files_containing(tmp_path, needle) == [tmp_path / "deep" / "er" / "blob.bin"]

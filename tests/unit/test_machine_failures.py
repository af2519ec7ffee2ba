"""A machine failure (a missing OCR program) is told apart from a bad file, documents in `error` are retried,
and a rebuild of an empty or mostly missing folder is refused. No services: real pytesseract and PIL."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.settings import Settings
from tasks.evaluation.mini import page_image
from tasks.ingestion.extract import extract_outcome
from tasks.ingestion.hashing import file_sha256
from tasks.ingestion.ocr_tools import MachineFailure, missing_ocr_tools, missing_tools_warning, require
from tasks.ingestion.plan import is_unchanged, rebuild_refusal
from tasks.ingestion.sources import ScannedFile
from warehouse.manifest import KnownDocument


@pytest.fixture
def no_programs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with no program on it: no tesseract, no poppler."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_scan_without_tesseract_is_a_machine_failure(tmp_path: Path, no_programs: None) -> None:
    scan = tmp_path / "scan.png"
    page_image("The harbour master signs the ledger at dawn.").save(scan)
    outcome = extract_outcome(scan, file_sha256(scan), Settings())
    assert outcome.document is None and outcome.failed, outcome
    assert outcome.problem.reason.startswith("tesseract not found on PATH (needed for OCR"), outcome.problem
    assert "install tesseract-ocr" in outcome.problem.reason


def test_a_corrupt_image_is_still_a_bad_file(tmp_path: Path, no_programs: None) -> None:
    scan = tmp_path / "scan.png"
    page_image("The harbour master signs the ledger at dawn.").save(scan)
    scan.write_bytes(scan.read_bytes()[:2000])  # truncated: a PNG header, then nothing
    outcome = extract_outcome(scan, file_sha256(scan), Settings())
    assert not outcome.failed and outcome.problem.reason == "unreadable image", outcome.problem


def test_missing_programs_are_named(no_programs: None) -> None:
    assert missing_ocr_tools() == ["tesseract", "pdfinfo", "pdftoppm"]
    warning = missing_tools_warning(missing_ocr_tools())
    assert warning.startswith(
        "tesseract, pdfinfo, pdftoppm not found on PATH (install poppler-utils, tesseract-ocr)"
    )
    with pytest.raises(MachineFailure, match="pdftoppm not found on PATH .*install poppler-utils"):
        require("pdftoppm")
    assert missing_tools_warning([]) is None


def test_a_document_in_error_is_never_unchanged() -> None:
    known = KnownDocument("/d/a.png", "id", "sha", "sig", "indexed")
    assert is_unchanged(known, "sha", "sig")
    for status in ("error", "pending"):
        assert not is_unchanged(KnownDocument("/d/a.png", "id", "sha", "sig", status), "sha", "sig")


def _known(count: int) -> dict[str, KnownDocument]:
    return {
        f"/d/{i}.txt": KnownDocument(f"/d/{i}.txt", str(i), "sha", "sig", "indexed") for i in range(count)
    }


def _files(count: int) -> list[ScannedFile]:
    return [ScannedFile(Path(f"/d/{i}.txt"), "sha") for i in range(count)]


def test_a_rebuild_of_an_empty_or_mostly_missing_folder_is_refused() -> None:
    root = Path("/d")
    assert "saw 0 of the 2 files" in rebuild_refusal(root, [], _known(2), 0.5)
    assert "saw 1 of the 4 files" in rebuild_refusal(root, _files(1), _known(4), 0.5)
    assert "saw 0 of the 2 files" in rebuild_refusal(root, [], _known(2), 0.0)  # empty: even unguarded
    assert rebuild_refusal(root, _files(2), _known(4), 0.5) is None
    assert rebuild_refusal(root, [], {}, 0.5) is None  # nothing indexed, nothing to lose

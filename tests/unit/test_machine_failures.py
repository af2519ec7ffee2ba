"""A machine failure (missing OCR language data or program) is told apart from a bad file, documents in `error`
are retried, and a rebuild of an empty or mostly missing folder is refused. No services: real tesseract (the
tesserocr engine) and PIL."""

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
def bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a machine with no program on PATH (no poppler) and no tesseract language data."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return Settings(ocr_tessdata=empty)


def test_a_scan_without_tesseract_language_data_is_a_machine_failure(tmp_path: Path, bare_machine) -> None:
    scan = tmp_path / "scan.png"
    page_image("The harbour master signs the ledger at dawn.").save(scan)
    outcome = extract_outcome(scan, file_sha256(scan), bare_machine)
    assert outcome.document is None and outcome.failed, outcome
    assert outcome.problem.reason.startswith("tesseract-ocr-eng language data not found in "), outcome.problem
    assert (
        "(needed for OCR of images and scanned PDF pages; install tesseract-ocr-eng" in outcome.problem.reason
    )


def test_a_language_without_data_is_named(tmp_path: Path) -> None:
    scan = tmp_path / "scan.png"
    page_image("The harbour master signs the ledger at dawn.").save(scan)
    outcome = extract_outcome(scan, file_sha256(scan), Settings(ocr_languages="eng+xyz"))
    assert outcome.failed and outcome.problem.reason.startswith("tesseract-ocr-xyz language data not found")


def test_a_corrupt_image_is_still_a_bad_file(tmp_path: Path, bare_machine) -> None:
    scan = tmp_path / "scan.png"
    page_image("The harbour master signs the ledger at dawn.").save(scan)
    scan.write_bytes(scan.read_bytes()[:2000])  # truncated: a PNG header, then nothing
    outcome = extract_outcome(scan, file_sha256(scan), bare_machine)
    assert not outcome.failed and outcome.problem.reason == "unreadable image", outcome.problem


def test_what_ocr_lacks_is_named(bare_machine) -> None:
    assert missing_ocr_tools(bare_machine) == ["tesseract-ocr-eng", "pdfinfo", "pdftoppm"]
    warning = missing_tools_warning(missing_ocr_tools(bare_machine))
    assert warning.startswith(
        "tesseract-ocr-eng, pdfinfo, pdftoppm not found (install poppler-utils, tesseract-ocr-eng)"
    )
    with pytest.raises(MachineFailure, match="pdftoppm not found on PATH .*install poppler-utils"):
        require(bare_machine.model_copy(update={"ocr_tessdata": None}), "pdftoppm")
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

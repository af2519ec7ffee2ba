"""Validate chunks against the Great Expectations suite; failing chunks are quarantined, not indexed."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from schemas.documents import Chunk, QuarantineRecord
from schemas.quality import SUITE_NAME, chunk_expectations
from schemas.settings import Settings, apply_library_environment

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    element_count: int
    unexpected_count: int


@dataclass
class ValidationReport:
    passed: list[Chunk]
    quarantined: list[QuarantineRecord]
    outcomes: list[ExpectationOutcome] = field(default_factory=list)


def non_alpha_ratio(text: str) -> float:
    """Share of non-space characters that are not letters: high for OCR garbage and binary residue."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 1.0
    return sum(not c.isalpha() for c in visible) / len(visible)


def chunk_frame(chunks: list[Chunk]) -> pd.DataFrame:
    import pandas as pd  # imported on first use: a run with nothing to validate never pays for it

    return pd.DataFrame(
        {
            "chunk_id": [c.chunk_id for c in chunks],
            "doc_id": [c.doc_id for c in chunks],
            "text": [c.text for c in chunks],
            "non_alpha_ratio": [non_alpha_ratio(c.text) for c in chunks],
            "ocr_confidence": [c.ocr_confidence if c.ocr_confidence is not None else 100.0 for c in chunks],
        }
    )


@lru_cache(maxsize=1)
def _chunk_batch_definition():
    """An ephemeral GX context with a pandas data source for chunk frames (built once per process)."""
    apply_library_environment()  # before GX is imported: no analytics calls
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas(name="chunks")
        .add_dataframe_asset(name="chunks")
        .add_batch_definition_whole_dataframe("all")
    )


def _run_suite(frame: pd.DataFrame, settings: Settings):
    """The suite's results over the frame. Most frames meet every expectation: a pass/fail run (half the cost
    of a complete one) says so, and only a frame that fails is validated again for the rows that fail (a
    pass's counts are the frame's rows and no unexpected row either way)."""
    import great_expectations as gx

    batch = _chunk_batch_definition().get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=chunk_expectations(settings))
    result = batch.validate(suite, result_format="BOOLEAN_ONLY")
    return result if result.success else batch.validate(suite, result_format="COMPLETE")


def validate_chunks(chunks: list[Chunk], settings: Settings) -> ValidationReport:
    """Split chunks into those that meet every expectation and quarantine records for the rest."""
    if not chunks:
        return ValidationReport(passed=[], quarantined=[])
    result = _run_suite(chunk_frame(chunks), settings)
    failures: dict[int, list[str]] = {}
    outcomes = []
    for expectation_result in result.results:
        config = expectation_result.expectation_config
        column = config.kwargs.get("column")
        unexpected = expectation_result.result.get("unexpected_index_list") or []
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=column,
                success=bool(expectation_result.success),
                element_count=int(expectation_result.result.get("element_count", len(chunks))),
                unexpected_count=len(unexpected),
            )
        )
        for index in unexpected:
            failures.setdefault(int(index), []).append(f"{config.type}({column})")
    passed = [chunk for i, chunk in enumerate(chunks) if i not in failures]
    quarantined = [
        QuarantineRecord(
            path=chunks[i].source_path,
            chunk_id=chunks[i].chunk_id,
            stage="validate",
            reason="chunk failed validation: " + ", ".join(reasons),
            detail=chunks[i].text[:200],
        )
        for i, reasons in sorted(failures.items())
    ]
    return ValidationReport(passed=passed, quarantined=quarantined, outcomes=outcomes)

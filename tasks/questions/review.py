"""A person's review of a generated question set: export it as a corpus QA set (JSONL, today's format plus
kind, evidence, collection and reviewed), edit it, import it back (every imported question is marked reviewed
and used). Import validates each line as a record: a bad line is reported with its line number and reason,
recorded in `quarantine`, and skipped; the other lines are imported."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from schemas.benchmarks import CorpusQuestion
from schemas.collection import collection_name
from schemas.documents import QuarantineRecord
from schemas.questions import KINDS, UNANSWERABLE, Candidate, from_sources
from schemas.settings import Settings
from warehouse import manifest
from warehouse import questions as stored
from warehouse.db import session_for

IMPORTED = "imported"  # the model and prompt version of a question a person wrote


def kept_questions(settings: Settings, collection: str) -> list[CorpusQuestion]:
    """The collection's current kept questions as a corpus QA set (`evaluate_corpus`), with their kind."""
    with session_for(settings) as con:
        return stored.kept_corpus_questions(con, collection_name(collection, settings.embedding_model))


def export_questions(settings: Settings, collection: str, out: Path, include_rejected: bool = False) -> int:
    """Write the collection's current questions (kept ones; with `include_rejected` also the rejected ones,
    with their outcome, rule and reason) as JSONL; returns how many lines were written."""
    with session_for(settings) as con:
        current = stored.current_questions(con, collection_name(collection, settings.embedding_model))
    lines = []
    for candidate in current:
        if not (candidate.kept or include_rejected):
            continue
        record = candidate.corpus_question().model_dump()
        if include_rejected:
            record |= {"outcome": candidate.outcome, "rule": candidate.rule, "reason": candidate.reason}
        lines.append(json.dumps(record, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{line}\n" for line in lines))
    return len(lines)


@dataclass
class ImportSummary:
    imported: int = 0  # lines stored as reviewed questions
    new: int = 0  # of those, questions that were not stored before
    left_out: int = 0  # lines marked `"outcome": "rejected"` (an export with the rejected ones)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


class BadRecord(ValueError):
    """A line that cannot be imported, with the reason."""


def _parse(line: str, collection: str | None = None) -> tuple[dict, CorpusQuestion]:
    """The line's record and question; a question a person wrote (no id) gets an id from its collection (the
    line's, else `collection`) and its text, so the same question in two collections is two questions."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise BadRecord(f"not JSON: {error.msg}") from error
    if not isinstance(record, dict):
        raise BadRecord(f"a record must be a JSON object, not a JSON {type(record).__name__}")
    if "id" not in record and isinstance(record.get("question"), str):  # a question a person wrote
        written = f"{record.get('collection') or collection or ''}\n{record['question']}"
        record["id"] = "imported-" + hashlib.sha256(written.encode()).hexdigest()[:16]
    try:
        question = CorpusQuestion.model_validate(record)
    except ValidationError as error:
        first = error.errors()[0]
        raise BadRecord(f"{'.'.join(map(str, first['loc'])) or 'record'}: {first['msg']}") from error
    if not question.question.strip():
        raise BadRecord("the question is empty")
    if not question.answers or not question.answers[0].strip():
        raise BadRecord("no answer")
    kind = question.kind or (UNANSWERABLE if question.answers[0] == UNANSWERABLE else "answerable")
    if kind not in KINDS:
        raise BadRecord(f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    if (kind == UNANSWERABLE) != (question.answers[0].strip().lower() == UNANSWERABLE):
        raise BadRecord("an unanswerable question's answer is 'unanswerable', and only its answer")
    question.kind = kind
    return record, question


def _reviewed(question: CorpusQuestion, before: Candidate) -> Candidate:
    """The stored question with the person's text, marked reviewed and used."""
    return before.model_copy(
        update={
            "question": question.question.strip(),
            "answer": question.answers[0].strip(),
            "kind": question.kind,
            "evidence": question.evidence or before.evidence,
            "reviewed": True,
            "outcome": "kept",
            "rule": None,
            "reason": None,
        }  # fmt: skip
    )


def _new(question: CorpusQuestion, collection: str, documents: dict[str, stored.DocumentState]) -> Candidate:
    """A question a person wrote, tied to the current versions of its gold documents."""
    missing = [doc_id for doc_id in question.gold_doc_ids if doc_id not in documents]
    if missing:
        raise BadRecord(f"gold document {missing[0]} is not in collection {collection}")
    candidate = from_sources(collection, question.kind, [], IMPORTED, IMPORTED)
    return candidate.model_copy(
        update={
            "question_id": question.id,
            "question": question.question.strip(),
            "answer": question.answers[0].strip(),
            "evidence": question.evidence,
            "doc_ids": list(question.gold_doc_ids),
            "doc_hashes": [documents[d].content_sha256 for d in question.gold_doc_ids],
            "reviewed": True,
            "outcome": "kept",
        }  # fmt: skip
    )


def import_questions(settings: Settings, path: Path, collection: str | None = None) -> ImportSummary:
    """Import reviewed questions from a JSONL file (see the module's doc). A question not stored before needs
    its collection: the line's `collection` (as exported) or `collection` here (the name given to ingest)."""
    summary, accepted = ImportSummary(), []
    default = collection_name(collection, settings.embedding_model) if collection else None
    with session_for(settings) as con:
        documents: dict[str, dict[str, stored.DocumentState]] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record, question = _parse(line, default)
                if record.get("outcome") == "rejected":
                    summary.left_out += 1
                    continue
                name = question.collection or default
                before = stored.stored_question(con, question.id)
                if before is not None and name and before.collection != name:
                    raise BadRecord(f"question {question.id} belongs to collection {before.collection}, not {name}")
                if before is not None:
                    accepted.append(_reviewed(question, before))
                    continue
                if not name:
                    raise BadRecord("a new question needs its collection (the line's or --collection)")
                if name not in documents:
                    documents[name] = stored.collection_documents(con, name)
                accepted.append(_new(question, name, documents[name]))
                summary.new += 1
            except BadRecord as error:
                summary.bad.append((number, str(error)))
        stored.write_questions(con, list({c.question_id: c for c in accepted}.values()))  # last line wins
        problems = [QuarantineRecord(path=f"{path}:{number}", reason=reason, stage="questions_import")
                    for number, reason in summary.bad]  # fmt: skip
        manifest.add_new_quarantine(con, f"questions:{path.resolve()}", problems)
    summary.imported = len({c.question_id for c in accepted})
    return summary

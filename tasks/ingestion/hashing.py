"""Identities of files and documents: a document's id from its path, a file's content hash, and the hash of
one version of a document under one configuration."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

DOC_NAMESPACE = uuid.UUID("5b0f7c1e-4a3d-4c59-9d8e-2f7a1c6b9e10")


def doc_id_for(path: Path) -> str:
    """A document's id is stable across edits: it is derived from its resolved path."""
    return str(uuid.uuid5(DOC_NAMESPACE, str(path.resolve())))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def document_hash(content_sha256: str, signature: str) -> str:
    """Identifies one version of a document under one configuration (stored on every chunk)."""
    return hashlib.sha256(f"{content_sha256}|{signature}".encode()).hexdigest()[:32]

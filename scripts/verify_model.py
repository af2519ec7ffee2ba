"""Check a GGUF file `make setup` assembled: its size and sha256, then its header (architecture, model name,
tokenizer) read by llama.cpp in vocab-only mode. Exits 1 with a message naming what is wrong.

Run from the project root: `python -m scripts.verify_model .local/models/<file>.gguf`.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from schemas.settings import LOCAL_MODELS, LocalModel


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def header(path: Path) -> dict[str, str]:
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return dict(vocab.metadata)
    finally:
        vocab.close()


def problems(path: Path, model: LocalModel) -> list[str]:
    if not path.is_file():
        return [f"{path} does not exist"]
    if (digest := sha256_of(path)) != model.sha256:
        return [f"sha256 is {digest}, expected {model.sha256}"]
    meta = header(path)
    found = []
    if meta.get("general.architecture") != model.architecture:
        found.append(f"architecture is {meta.get('general.architecture')!r}, expected {model.architecture!r}")
    if not str(meta.get("general.name", "")).startswith(model.title):
        found.append(f"model name is {meta.get('general.name')!r}, expected {model.title!r}…")
    if meta.get("tokenizer.ggml.pre") != model.tokenizer:
        found.append(f"tokenizer is {meta.get('tokenizer.ggml.pre')!r}, expected {model.tokenizer!r}")
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    model = LOCAL_MODELS.get(path.name)
    if model is None:
        print(f"{path.name} is not a model ragroute knows ({', '.join(LOCAL_MODELS)})", file=sys.stderr)
        return 1
    found = problems(path, model)
    for problem in found:
        print(f"{path}: {problem}", file=sys.stderr)
    if not found:
        print(f"{path.name}: sha256 and GGUF header ({model.architecture}, {model.title}) verified")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

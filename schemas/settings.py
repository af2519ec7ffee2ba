"""The one settings object of ragroute, read from `RAGROUTE_*` environment variables (and a `.env` file).

A few well-known variables are honoured as well, so ragroute points at external services the usual way:
`WEAVIATE_URL`, `WEAVIATE_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_API_KEY`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.errors import RagrouteError
from schemas.methods import Retriever
from schemas.processes import process_alive

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_CONTEXT_TOKENS = 8192  # the window of ragroute's own llama.cpp server unless RAGROUTE_LLM_CONTEXT_TOKENS


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model `make setup` installs under `.local/models/`, and what its file must be."""

    name: str  # the model name served (`--model_alias`), priced and recorded with each run
    file: str
    sha256: str
    architecture: str  # GGUF `general.architecture`
    title: str  # GGUF `general.name` starts with this
    tokenizer: str  # GGUF `tokenizer.ggml.pre`


QWEN = LocalModel(
    name="Qwen2.5-Coder-0.5B-Instruct",
    file="Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    architecture="qwen2",
    title="Qwen2.5 Coder 0.5B Instruct",
    tokenizer="qwen2",
)
SMOLLM2 = LocalModel(
    name="SmolLM2-135M-Instruct",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    architecture="llama",
    title="Smollm2 135M",
    tokenizer="smollm",
)
LOCAL_MODELS = {model.file: model for model in (QWEN, SMOLLM2)}


@dataclass(frozen=True)
class DuckLakeTarget:
    """A DuckLake warehouse: its ATTACH string (the catalog) and the folder that holds its Parquet files."""

    attach: str
    data_path: str

    def __str__(self) -> str:  # the catalog without a password, for messages
        return re.sub(r"password=\S+", "password=…", self.attach)


def _env(name: str, *also: str) -> AliasChoices:
    """Accept `RAGROUTE_<NAME>` plus the given well-known variable names."""
    return AliasChoices(f"RAGROUTE_{name.upper()}", *also)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGROUTE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Where ragroute keeps its state: DuckDB file, Weaviate persistence, logs, PID files.
    data_dir: Path = Field(default=PROJECT_ROOT / ".ragroute")
    # Where `make setup` puts the Weaviate binary and the model files.
    local_dir: Path = Field(default=PROJECT_ROOT / ".local")

    # Weaviate: an external cluster when `weaviate_url` is set, otherwise a local server on loopback.
    weaviate_url: str | None = Field(default=None, validation_alias=_env("weaviate_url", "WEAVIATE_URL"))
    weaviate_grpc_url: str | None = Field(
        default=None, validation_alias=_env("weaviate_grpc_url", "WEAVIATE_GRPC_URL")
    )
    weaviate_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("weaviate_api_key", "WEAVIATE_API_KEY")
    )
    weaviate_version: str = "v1.38.5"
    weaviate_host: str = "127.0.0.1"
    weaviate_http_port: int = 8079
    weaviate_grpc_port: int = 50060
    weaviate_start_timeout_s: float = 120.0
    # The server's cap on objects per query or delete call (Weaviate's QUERY_MAXIMUM_RESULTS).
    weaviate_query_maximum_results: int = 10_000
    # A local cluster of this many nodes (`ragroute services up --weaviate-nodes 3`); node i > 0 listens on
    # the HTTP port + 10·i (gossip, data, Raft and profiling ports above it) and the gRPC port + i.
    weaviate_nodes: int = Field(default=1, ge=1, le=9)
    # Copies of each chunk collection (unset: 1 on a single node, up to 3 on a cluster).
    weaviate_replication_factor: int | None = Field(default=None, ge=1)
    # Consistency of reads and writes (unset: the server's default on a single node, QUORUM on a cluster).
    weaviate_consistency_level: Literal["ONE", "QUORUM", "ALL"] | None = None

    # LLM: an OpenAI-compatible endpoint when `openai_base_url` is set, otherwise llama.cpp on loopback.
    openai_base_url: str | None = Field(
        default=None, validation_alias=_env("openai_base_url", "OPENAI_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("openai_api_key", "OPENAI_API_KEY")
    )
    # The GGUF the local llama.cpp server loads: a file name under `.local/models/` or a path.
    llm_model_file: str = QWEN.file
    # The model name sent with each request; empty: the local model's name (see `local_llm_model`).
    llm_model: str = ""
    llm_host: str = "127.0.0.1"
    llm_port: int = 8011
    # The endpoint's context window in tokens, overriding what it reports (see tasks/clients/profile.py);
    # unset: asked of the endpoint, else the model table. Also the window ragroute's own llama.cpp server gets.
    llm_context_tokens: int | None = Field(default=None, ge=256)
    # The tokenizer that sizes and counts prompts, overriding the endpoint's: `tiktoken:<encoding>`,
    # `hf:<tokenizer.json or cached repo id>` or `gguf:<file>`.
    llm_tokenizer: str | None = None
    # The endpoint's identity in the shared LLM cache; unset: its normalised URL.
    llm_endpoint_id: str | None = None
    llm_threads: int = 2
    llm_start_timeout_s: float = 120.0
    # Evaluation calls: parallel requests, attempts per request (429/5xx/timeouts), seconds per request.
    llm_concurrency: int = 4
    llm_max_attempts: int = 6
    llm_timeout_s: float = 300.0
    # Ask for logprobs (the decline probability of Self-Route); turn off for endpoints that reject them.
    llm_logprobs: bool = True
    # A judge model on the same endpoint for replayed production questions (no gold answer); unset: no judge.
    judge_model: str | None = None

    # Evaluation.
    eval_chunk_words: int = 300
    eval_top_k: int = 5
    eval_retriever: Retriever = "hybrid"
    eval_hybrid_alpha: float = 0.5
    eval_collection: str = "EvalContexts"
    price_table: Path = PROJECT_ROOT / "schemas" / "prices.yaml"
    # Context windows and tokenizers of models whose endpoint does not report them.
    model_table: Path = PROJECT_ROOT / "schemas" / "model_table.yaml"
    # Data set downloads are the one thing that may reach the Hugging Face hub (`tasks/evaluation/hub_fetch.py`);
    # true keeps them offline too. HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE set by the user imply it.
    hub_offline: bool = Field(
        default=False, validation_alias=_env("hub_offline", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )

    # Embeddings: the local MiniLM, or an OpenAI-compatible embeddings endpoint when `embedding_base_url` is set.
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_base_url: str | None = None
    embedding_batch_size: int = 64

    # Ingestion.
    # When set (`RAGROUTE_SOURCE_ROOTS=/data/a:/data/b`), ingestion refuses any folder or file outside them.
    source_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    collection: str = "Chunks"
    ocr_languages: str = "eng"
    # tesseract's language data (`<lang>.traineddata` files); unset: the distribution's usual folders.
    ocr_tessdata: Path | None = Field(default=None, validation_alias=_env("ocr_tessdata", "TESSDATA_PREFIX"))
    chunk_strategy: Literal["words", "by_title"] = "words"
    chunk_size_words: int = 300
    chunk_overlap_words: int = 0
    by_title_max_characters: int = 2000
    max_file_bytes: int = 50 * 1024 * 1024
    ingest_workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    ingest_batch_documents: int = 8
    # A Dask scheduler (`tcp://scheduler:8786`): each changed file is extracted, OCR'd, chunked, validated and
    # embedded on the cluster's workers, which read it by path (the same path must be mounted on every worker).
    # Unset: a local process pool of `ingest_workers`.
    dask_address: str | None = None
    dask_connect_timeout_s: float = 30.0
    # Deleting chunks of files missing from a scan is skipped when the scan saw fewer than this share of
    # the files known under the same root (a partial scan must never wipe an index).
    delete_guard_min_seen_ratio: float = 0.5

    # Chunk validation (the Great Expectations suite in schemas/quality.py).
    min_chunk_chars: int = 20
    max_chunk_chars: int = 20_000
    max_non_alpha_ratio: float = 0.6
    min_ocr_confidence: float = 40.0

    # Warehouse: the embedded DuckDB file (the default), or a DuckLake shared by hosts when `warehouse` holds
    # its ATTACH string (`ducklake:postgres:dbname=ragroute host=db.internal user=…`) and
    # `warehouse_data_path` the shared folder of its Parquet files.
    duckdb_path: Path | None = None
    warehouse: str | None = None
    warehouse_data_path: str | None = None

    # Orchestration: the nightly plan, and where Prefect keeps task results (the cross-run cache; use shared
    # storage when workers on several hosts should share it).
    # A Prefect server of our own (`ragroute services up`) unless `PREFECT_API_URL` points at one.
    prefect_api_url: str | None = Field(
        default=None, validation_alias=_env("prefect_api_url", "PREFECT_API_URL")
    )
    prefect_host: str = "127.0.0.1"
    prefect_port: int = 4200
    prefect_start_timeout_s: float = 180.0
    plan_path: Path = PROJECT_ROOT / "ragroute-plan.yaml"
    result_storage_path: Path | None = None
    nightly_cache_days: int = 7

    # HTTP API (`ragroute serve`): a key is required to bind anything but loopback.
    api_key: SecretStr | None = None
    api_max_body_bytes: int = 16_384
    api_rate_limit_per_minute: int = 60

    @field_validator("hub_offline", mode="before")
    @classmethod
    def _hub_flag(cls, value):
        return _hub_flag_set(value) if isinstance(value, str) else value

    @field_validator("source_roots", mode="before")
    @classmethod
    def _split_paths(cls, value):
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @model_validator(mode="after")
    def _default_model_name(self) -> Settings:
        if not self.llm_model:
            self.llm_model = self.local_llm_model
        return self

    @property
    def weaviate_is_local(self) -> bool:
        return not self.weaviate_url

    @property
    def llm_is_local(self) -> bool:
        return not self.openai_base_url

    @property
    def prefect_is_local(self) -> bool:
        return not self.prefect_api_url

    @property
    def local_prefect_api_url(self) -> str:
        return f"http://{self.prefect_host}:{self.prefect_port}/api"

    @property
    def weaviate_http_url(self) -> str:
        return self.weaviate_url or f"http://{self.weaviate_host}:{self.weaviate_http_port}"

    @property
    def llm_logprobs_model(self) -> str:
        """The second name ragroute's llama.cpp server gives the model, loaded with `logits_all`: llama-cpp-python
        returns logprobs only then, and keeping every prompt token's logits slows prompt processing by a
        quarter, so only requests that want logprobs use it (`LLM` looks the name up in the endpoint's model
        list, so it is also found through OPENAI_BASE_URL)."""
        return logprobs_alias(self.llm_model)

    @property
    def llm_base_url(self) -> str:
        return self.openai_base_url or f"http://{self.llm_host}:{self.llm_port}/v1"

    @property
    def llm_api_key(self) -> str:
        # A local llama.cpp server accepts any key; the openai client insists on one.
        return self.openai_api_key.get_secret_value() if self.openai_api_key else "local"

    @property
    def warehouse_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "ragroute.duckdb"

    @property
    def warehouse_target(self) -> Path | DuckLakeTarget:
        """Where every warehouse reader and writer goes: the DuckDB file, or the DuckLake."""
        if not self.warehouse:
            return self.warehouse_path
        if not self.warehouse.startswith("ducklake:"):
            raise RagrouteError(
                f"RAGROUTE_WAREHOUSE must be a DuckLake ATTACH string (ducklake:…), not {self.warehouse!r}"
            )
        if not self.warehouse_data_path:
            raise RagrouteError(
                "RAGROUTE_WAREHOUSE is set: set RAGROUTE_WAREHOUSE_DATA_PATH to the shared data folder too"
            )
        return DuckLakeTarget(self.warehouse, self.warehouse_data_path)

    @property
    def results_path(self) -> Path:
        return self.result_storage_path or self.data_dir / "prefect-results"

    @property
    def bin_dir(self) -> Path:
        return self.local_dir / "bin"

    @property
    def models_dir(self) -> Path:
        return self.local_dir / "models"

    @property
    def tiktoken_dir(self) -> Path:
        """tiktoken's encodings (OpenAI models' tokenizers), put in place by `make setup`."""
        return self.local_dir / "tiktoken"

    @property
    def weaviate_binary(self) -> Path:
        return self.bin_dir / "weaviate-server"

    @property
    def llm_model_path(self) -> Path:
        path = Path(self.llm_model_file)
        return path if path.is_absolute() else self.models_dir / path

    @property
    def local_llm_context_tokens(self) -> int:
        """The window ragroute's own llama.cpp server is started with."""
        return self.llm_context_tokens or LOCAL_CONTEXT_TOKENS

    @property
    def local_llm_model(self) -> str:
        """The name of the model in `llm_model_file` (a known model's name, else the file's stem)."""
        known = LOCAL_MODELS.get(Path(self.llm_model_file).name)
        return known.name if known else Path(self.llm_model_file).stem

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def cli_log_file(self) -> Path:
        """Where the CLI sends other libraries' warnings, logs and progress bars (unless `--verbose`)."""
        return self.log_dir / "ragroute.log"

    @property
    def prefect_pid_file(self) -> Path:
        return self.run_dir / "prefect.pid"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; `get_settings.cache_clear()` re-reads the environment."""
    return Settings()


def _hub_flag_set(value: str | None) -> bool:
    """huggingface_hub's reading of HF_HUB_OFFLINE and its kin."""
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


# Libraries ragroute uses read these: keep them offline and quiet. The hub is reached only by the data set
# fetch, in a process of its own (`hub_environment`, `tasks/evaluation/hub_fetch.py`).
LIBRARY_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "1",
    # One OpenMP thread per process (a tesseract built with OpenMP made one page several times slower on small
    # machines): ragroute runs documents in parallel instead.
    "OMP_THREAD_LIMIT": "1",
    # Without a Prefect server (PREFECT_API_URL, or the local one of `ragroute services up`) each flow run
    # starts a temporary one; give it time on a busy machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


def logprobs_alias(model: str) -> str:
    """The name under which ragroute's llama.cpp server serves `model` with logprobs (`logits_all`)."""
    return f"{model}+logprobs"


def apply_library_environment() -> None:
    """Set the libraries' environment defaults (a value the user set wins), and point Prefect at the local
    server of `ragroute services up` when it runs, so flows do not start a temporary one."""
    # Whether the user asked for the hub offline, remembered before ragroute's default hides it (and inherited).
    user_offline = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    os.environ.setdefault("RAGROUTE_HUB_OFFLINE", "1" if _hub_flag_set(user_offline) else "0")
    for name, value in LIBRARY_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    settings = get_settings()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(settings.tiktoken_dir))  # no download at first use
    if settings.prefect_is_local and _pid_alive(settings.prefect_pid_file):
        os.environ["PREFECT_API_URL"] = settings.local_prefect_api_url


def hub_environment(settings: Settings) -> dict[str, str]:
    """The environment of the data set fetch's own process: this one's (HF_ENDPOINT, HF_HOME, HF_TOKEN …),
    with ragroute's offline default lifted unless the user asked for offline (`hub_offline`)."""
    offline = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    environment = {name: value for name, value in os.environ.items() if name not in offline}
    if settings.hub_offline:
        environment["HF_HUB_OFFLINE"] = "1"
    return environment


def _pid_alive(pid_file: Path) -> bool:
    """Whether the process named in a PID file runs (the file is written by `tasks.clients.services`)."""
    try:
        return process_alive(int(pid_file.read_text().strip()))
    except (OSError, ValueError):
        return False

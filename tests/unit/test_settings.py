from pathlib import Path

from schemas.settings import Settings


def test_prefixed_variables_are_read(monkeypatch):
    monkeypatch.setenv("RAGROUTE_LLM_PORT", "9999")
    monkeypatch.setenv("RAGROUTE_DATA_DIR", "/tmp/somewhere")
    settings = Settings()
    assert settings.llm_port == 9999
    assert settings.data_dir == Path("/tmp/somewhere")
    assert settings.warehouse_path == Path("/tmp/somewhere/ragroute.duckdb")


def test_well_known_variables_point_at_external_services(monkeypatch):
    monkeypatch.setenv("WEAVIATE_URL", "https://cluster.example:8443")
    monkeypatch.setenv("WEAVIATE_API_KEY", "wv-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gpu-host:8000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    settings = Settings()
    assert not settings.weaviate_is_local and not settings.llm_is_local
    assert settings.weaviate_http_url == "https://cluster.example:8443"
    assert settings.llm_base_url == "http://gpu-host:8000/v1"
    assert settings.llm_api_key == "sk-secret"
    assert "wv-secret" not in repr(settings) and "sk-secret" not in repr(settings)


def test_prefixed_variable_wins_over_nothing(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("RAGROUTE_OPENAI_BASE_URL", "http://vllm:8000/v1")
    assert Settings().llm_base_url == "http://vllm:8000/v1"


def test_local_defaults_use_loopback(monkeypatch):
    for name in ("WEAVIATE_URL", "OPENAI_BASE_URL", "RAGROUTE_WEAVIATE_URL", "RAGROUTE_OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(weaviate_http_port=8079, llm_port=8011)
    assert settings.weaviate_http_url == "http://127.0.0.1:8079"
    assert settings.llm_base_url == "http://127.0.0.1:8011/v1"
    assert settings.llm_api_key == "local"


def test_the_model_file_selects_the_model_name_and_tokenizer(monkeypatch):
    from schemas.settings import QWEN, SMOLLM2
    monkeypatch.delenv("RAGROUTE_LLM_MODEL", raising=False)
    monkeypatch.delenv("RAGROUTE_LLM_MODEL_FILE", raising=False)
    qwen = Settings()  # the default
    assert qwen.llm_model == QWEN.name and qwen.llm_model_path == qwen.models_dir / QWEN.file
    assert qwen.llm_context_tokens is None and qwen.local_llm_context_tokens == 8192
    monkeypatch.setenv("RAGROUTE_LLM_MODEL_FILE", SMOLLM2.file)
    assert Settings().llm_model == SMOLLM2.name
    monkeypatch.setenv("RAGROUTE_LLM_MODEL_FILE", "/models/other-7b.gguf")
    other = Settings()
    assert other.llm_model == "other-7b" and str(other.llm_model_path) == "/models/other-7b.gguf"
    monkeypatch.setenv("RAGROUTE_LLM_MODEL", "served-name")
    assert Settings().llm_model == "served-name"

"""OpenAI models' tokenizers (tiktoken's encodings) load offline from the folder `make setup` fills."""

from __future__ import annotations

import hashlib
import os

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from schemas.settings import get_settings

ENCODINGS = ("o200k_base", "cl100k_base")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download: tiktoken's only way to fetch a file raises, and its loaded encodings are forgotten."""

    def no_network(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})


def test_ragroute_points_tiktoken_at_the_setup_folder() -> None:
    # tests/conftest.py applies the library environment, as every ragroute process does
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(get_settings().tiktoken_dir)


@pytest.mark.parametrize("name", ENCODINGS)
def test_encodings_load_without_network(offline: None, name: str) -> None:
    encoding = tiktoken.get_encoding(name)
    assert encoding.encode("hello world") == encoding.encode("hello" + " world")
    assert len(encoding.encode("hello world")) == 2
    assert encoding.decode(encoding.encode("Self-Route, 128k")) == "Self-Route, 128k"


@pytest.mark.parametrize(("model", "name"), [("gpt-4o", "o200k_base"), ("gpt-4o-mini", "o200k_base"),
                                             ("gpt-4.1", "o200k_base"), ("o3", "o200k_base"),
                                             ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base")])  # fmt: skip
def test_models_get_their_encoding(offline: None, model: str, name: str) -> None:
    assert tiktoken.encoding_for_model(model).name == name


@pytest.mark.parametrize("name", ENCODINGS)
def test_each_file_is_the_one_tiktoken_expects(name: str) -> None:
    """Named by the sha1 of tiktoken's URL for it; contents as tiktoken checks them (sha256)."""
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    path = get_settings().tiktoken_dir / hashlib.sha1(url.encode()).hexdigest()
    expected = {"o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
                "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"}  # fmt: skip
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected[name]

"""`ragroute ask` with the default local model (Qwen2.5-Coder-0.5B): an answer in words with the right citation.

The suite's LLM server runs SmolLM2 for speed; this module stops it, serves the default model on the same port
for its tests, and puts SmolLM2 back afterwards (never two llama.cpp servers at once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from schemas.settings import QWEN, Settings
from tasks.clients import services
from tasks.ingestion.run import ingest
from tasks.routing.ask import Asker
from tasks.testbed.corpus import text_pdf

QUESTION = "Which years did Edith Marlowe serve as keeper?"
HARBOUR = (
    "The harbour master logged the arrival of the grain ships and the state of the tide each morning. " * 8
)
KEEPER = "Edith Marlowe served as keeper of the Velmora lighthouse from 1887 to 1902."
OTHER_KEEPER = "Tomas Reyne served as keeper of the Orlen beacon from 1921 to 1939."


@pytest.fixture(scope="module")
def default_model(running_services: Settings):
    """The session's settings with the default local model served in place of the suite's model."""
    if not running_services.llm_is_local:
        yield running_services
        return
    qwen = running_services.model_copy(update={"llm_model_file": QWEN.file, "llm_model": QWEN.name})
    services.stop(running_services, "llm")
    try:
        services.start(qwen, services.llm_service(qwen))
        yield qwen
    finally:
        services.stop(qwen, "llm")
        services.start(running_services, services.llm_service(running_services))


@pytest.fixture(scope="module")
def keepers(default_model: Settings, tmp_path_factory) -> Settings:
    folder = tmp_path_factory.mktemp("keepers")
    text_pdf(folder / "lighthouse.pdf", [HARBOUR, f"{HARBOUR} {KEEPER} {HARBOUR}"])
    (folder / "beacon.txt").write_text(f"{HARBOUR} {OTHER_KEEPER} {HARBOUR}")
    assert ingest(folder, default_model, collection="Keepers").status == "completed"
    return default_model


def test_ask_answers_the_years_in_words_and_cites_file_and_page(keepers: Settings):
    result = Asker(keepers, "Keepers").ask(QUESTION, k=3)
    assert result.error is None and result.route in ("rag", "lc"), result
    assert "1887" in result.answer and "1902" in result.answer, result.answer
    assert any(ch.isalpha() for ch in result.answer)
    top = result.citations[0]
    assert top.source_path.endswith("lighthouse.pdf") and top.page == 2, result.citations
    assert any("Edith Marlowe" in sentence for sentence in top.evidence)


def test_ask_cli_prints_the_answer_and_the_citation(keepers: Settings):
    env = {"RAGROUTE_LLM_MODEL_FILE": QWEN.file, "RAGROUTE_LLM_MODEL": QWEN.name}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragroute.cli",
            "ask",
            QUESTION,
            "--collection",
            "Keepers",
            "--k",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "1887" in answer["answer"] and "1902" in answer["answer"]
    assert answer["citations"][0]["source_path"].endswith("lighthouse.pdf")
    assert answer["citations"][0]["page"] == 2

"""Benchmarks download through `HF_ENDPOINT`: LongBench's data.zip, LongBench v2's data.json and an ∞Bench file,
each stored once and then read from disk; a download cut by a dying server or a killed client never leaves a
file that a later run uses. The hub is `tests/support/hub_server.py`, a loopback server speaking the hub's file
protocol (the real hub cannot be reached here); huggingface_hub, its cache and ragroute's loader are the real ones.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tasks.evaluation.datasets import DatasetUnavailable, load_dataset
from tests.support.hub_server import HubFile, HubServer

STORY = "Edith Marlowe kept the lighthouse at Carrow Point from 1881 to 1893. " * 20
HOTPOTQA = [
    {"_id": f"hp-{n}", "input": f"Who kept the lighthouse? ({n})", "context": STORY, "answers": ["Edith Marlowe"],
     "length": 240, "dataset": "hotpotqa", "language": "en", "all_classes": None}
    for n in range(3)
]  # fmt: skip
V2 = [
    {"_id": f"v2-{n}", "domain": "Single-Document QA", "sub_domain": "History", "difficulty": "easy",
     "length": "short", "question": "Who kept the lighthouse?", "choice_A": "Edith Marlowe", "choice_B": "Ben",
     "choice_C": "Ann", "choice_D": "Nobody", "answer": "A", "context": STORY}
    for n in range(2)
]  # fmt: skip
INFBENCH = [
    {
        "id": n,
        "context": STORY,
        "input": "Who kept the lighthouse?",
        "answer": ["Edith Marlowe"],
        "options": [],
    }
    for n in range(2)
]
EXPECTED_IDS = {
    "hotpotqa": ["hp-0", "hp-1", "hp-2"],
    "longbench_v2": ["v2-0", "v2-1"],
    "infbench_en_qa": ["0", "1"],
}


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def _data_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("data/hotpotqa.jsonl", _jsonl(HOTPOTQA))
        bundle.writestr("data/qasper.jsonl", _jsonl([]))
    return buffer.getvalue()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The hub on loopback as `HF_ENDPOINT`, with a cache of this test's own."""
    server = HubServer({
        ("THUDM/LongBench", "data.zip"): HubFile(_data_zip(), lfs=True),
        ("THUDM/LongBench-v2", "data.json"): HubFile(json.dumps(V2).encode(), lfs=True),
        ("xinrongzhang2022/InfiniteBench", "longbook_qa_eng.jsonl"): HubFile(_jsonl(INFBENCH)),
    }).start()  # fmt: skip
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.stop()


@pytest.fixture
def online(settings, tmp_path):
    return settings.model_copy(update={"data_dir": tmp_path / "data", "hub_offline": False})


def _ids(name: str, settings) -> list[str]:
    return [example.id for example in load_dataset(name, settings).examples]


def _leftovers(settings) -> list[str]:
    """Files in the data set folder other than stored data sets (a partial file would show up here)."""
    folder = settings.data_dir / "datasets"
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".jsonl") if folder.exists() else []


def _cached_files(tmp_path: Path) -> list[str]:
    """What huggingface_hub's cache holds that it would use: blobs that are not `.incomplete`, and snapshots."""
    cache = tmp_path / "hf" / "hub"
    return sorted(
        str(p.relative_to(cache))
        for p in cache.rglob("*")
        if p.is_file() and not p.name.endswith(".incomplete") and {"blobs", "snapshots"} & set(p.parts)
    )


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_each_benchmark_downloads_once_through_hf_endpoint(hub, online, name):
    assert _ids(name, online) == EXPECTED_IDS[name]
    stored = online.data_dir / "datasets" / f"{name}.jsonl"
    assert len(stored.read_text().splitlines()) == len(EXPECTED_IDS[name])  # v2's JSON array stored as JSONL
    assert _leftovers(online) == []
    assert {method for method, _ in hub.requests} == {"HEAD", "GET"}
    asked = len(hub.requests)
    assert _ids(name, online) == EXPECTED_IDS[name]
    assert len(hub.requests) == asked  # the stored file, no request


def test_server_dying_mid_download_leaves_no_file_that_is_used(hub, online, tmp_path):
    fault = hub.die_mid_body()
    with pytest.raises(DatasetUnavailable, match=r"put it at .*hotpotqa\.jsonl") as raised:
        load_dataset("hotpotqa", online)
    assert fault.cut.is_set()
    assert "data/hotpotqa.jsonl out of data.zip of the Hugging Face data set THUDM/LongBench" in str(
        raised.value
    )
    assert not (online.data_dir / "datasets" / "hotpotqa.jsonl").exists()
    assert _leftovers(online) == []
    assert _cached_files(tmp_path) == []  # huggingface_hub kept nothing it would trust
    hub.start()  # back, on the same ports
    assert _ids("hotpotqa", online) == EXPECTED_IDS["hotpotqa"]
    blob = hub.files[("THUDM/LongBench", "data.zip")]
    full_gets = [path for method, path in hub.requests if method == "GET" and path.endswith(blob.sha256)]
    assert len(full_gets) >= 2  # the cut one, and the whole file again


def test_client_killed_mid_download_leaves_no_file_that_is_used(hub, online, tmp_path):
    fault = hub.stall_mid_body()
    script = (
        "from schemas.settings import apply_library_environment, get_settings\n"
        "apply_library_environment()\n"
        "from tasks.evaluation.datasets import load_dataset\n"
        "load_dataset('longbench_v2', get_settings())\n"
    )
    client = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "RAGROUTE_DATA_DIR": str(online.data_dir)},
        start_new_session=True,  # its own process group: the fetch's child goes down with it
    )
    try:
        assert fault.cut.wait(120), "the download never started"
    finally:
        os.killpg(client.pid, signal.SIGKILL)
        client.wait(30)
        fault.release.set()
    assert not (online.data_dir / "datasets" / "longbench_v2.jsonl").exists()
    assert _leftovers(online) == []
    # huggingface_hub's partial download is left behind under a name it never reads again
    assert [p.name for p in (tmp_path / "hf" / "hub").rglob("*.incomplete")]
    assert _cached_files(tmp_path) == []
    assert _ids("longbench_v2", online) == EXPECTED_IDS["longbench_v2"]
    assert _leftovers(online) == []


def test_a_delivered_file_without_records_is_not_stored(hub, online):
    """A mirror answering 200 with an error page: nothing parses, so nothing lands under the data set's name."""
    hub.files[("xinrongzhang2022/InfiniteBench", "longbook_qa_eng.jsonl")] = HubFile(b"<html>busy</html>\n")
    with pytest.raises(DatasetUnavailable, match=r"holds no usable record"):
        load_dataset("infbench_en_qa", online)
    assert not (online.data_dir / "datasets" / "infbench_en_qa.jsonl").exists()
    assert _leftovers(online) == []


def test_offline_by_the_user_asks_nothing_and_says_what_to_fetch(hub, online):
    offline = online.model_copy(update={"hub_offline": True})
    with pytest.raises(DatasetUnavailable, match=r"put it at .*infbench_en_qa\.jsonl") as raised:
        load_dataset("infbench_en_qa", offline)
    assert "longbook_qa_eng.jsonl of the Hugging Face data set xinrongzhang2022/InfiniteBench" in str(
        raised.value
    )
    assert hub.requests == []
    assert _leftovers(offline) == []


@pytest.mark.parametrize(
    ("user_environment", "hub_offline"),
    [({}, False), ({"HF_HUB_OFFLINE": "1"}, True), ({"TRANSFORMERS_OFFLINE": "yes"}, True)],
)
def test_only_the_fetch_goes_online_unless_the_user_said_offline(user_environment, hub_offline):
    """In a ragroute process huggingface_hub is offline either way; the data set fetch's own environment is
    online unless the user set HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) before ragroute started."""
    script = (
        "import json\n"
        "from schemas.settings import apply_library_environment, get_settings, hub_environment\n"
        "apply_library_environment()\n"
        "import huggingface_hub.constants as hub\n"
        "fetch = hub_environment(get_settings())\n"
        "print(json.dumps([hub.HF_HUB_OFFLINE, get_settings().hub_offline,\n"
        "                  fetch.get('HF_HUB_OFFLINE'), fetch.get('TRANSFORMERS_OFFLINE')]))\n"
    )
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "RAGROUTE_HUB_OFFLINE")
    environment = {k: v for k, v in os.environ.items() if k not in names} | user_environment
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, hub_offline, "1" if hub_offline else None, None]

"""Fetch one file of a Hugging Face data set repository: the only thing in ragroute that may reach the hub.

Every ragroute process keeps the hub offline (`HF_HUB_OFFLINE=1` in `schemas.settings.LIBRARY_ENVIRONMENT`), so
sentence-transformers and transformers never touch the network. huggingface_hub reads that variable once, when
it is imported, into a module constant that every request checks; lifting it inside a running process would let
any other thread's model load go online as well. So the fetch runs `hf_hub_download` in a child process of its
own (`python -m tasks.evaluation.hub_fetch REPO FILE`), whose environment (`schemas.settings.hub_environment`)
lifts ragroute's default, unless the user asked for offline (`HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE` set before
ragroute started, or `RAGROUTE_HUB_OFFLINE=1`). The child inherits `HF_ENDPOINT` (a mirror), `HF_HOME` /
`HF_HUB_CACHE` and `HF_TOKEN`; its progress bars go to this process's stderr.

huggingface_hub downloads into a uniquely named `*.incomplete` file beside its cache's blobs and moves it into
place only when its size matches the server's, so an interrupted download is never taken from its cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from schemas.errors import RagrouteError
from schemas.settings import Settings, hub_environment


class HubFetchFailed(RagrouteError):
    """The hub (or the mirror in `HF_ENDPOINT`) could not deliver the file, or offline mode forbade asking."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def fetch(repo_id: str, filename: str, settings: Settings) -> Path:
    """The path of `filename` of data set repository `repo_id` in the hub's cache, downloaded if need be."""
    result = subprocess.run(
        [sys.executable, "-m", __name__, repo_id, filename],
        env=hub_environment(settings),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    try:
        reply = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise HubFetchFailed(
            "ChildProcessError", f"the fetch exited with status {result.returncode}"
        ) from None
    if "error" in reply:
        raise HubFetchFailed(reply["error"], reply["detail"])
    return Path(reply["path"])


def _download(repo_id: str, filename: str) -> dict[str, str]:
    """In the child: download, and say where the file is or what went wrong (one JSON line)."""
    from huggingface_hub import hf_hub_download

    try:
        return {"path": hf_hub_download(repo_id, filename, repo_type="dataset")}
    except Exception as error:  # reported to the parent, which explains what to do about it
        return {"error": type(error).__name__, "detail": " ".join(str(error).split())[:400]}


if __name__ == "__main__":
    print(json.dumps(_download(sys.argv[1], sys.argv[2])))

"""The file system watch behind `ragroute watch`, on a real folder."""

from __future__ import annotations

import threading
import time

from tasks.ingestion.events import watch_changes

TEXT = "The harbour office keeps a ledger of every vessel that enters the bay at night. "


def _write(folder, name: str, topic: str, repeat: int = 40) -> None:
    (folder / name).write_text(f"The code word for {topic} is {topic.upper()}-9. " + TEXT * repeat)


def test_watch_reports_each_file_once_after_it_is_ready(settings, tmp_path):
    root = tmp_path / "inbox"
    root.mkdir()
    _write(root, "old.txt", "old")
    ready, stop = threading.Event(), threading.Event()
    batches: list[dict[str, str]] = []

    def collect():
        for changes in watch_changes(root, settings, "Watched", stop, on_ready=ready.set):
            batches.append({c.path.rsplit("/", 1)[-1]: c.change for c in changes})

    watcher = threading.Thread(target=collect, daemon=True)
    watcher.start()
    assert ready.wait(30), "the watcher never became ready"
    _write(root, "new.txt", "new")  # opened, then written: added + modified
    _write(root, "old.txt", "old", repeat=5)
    (root / "sub").mkdir()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(len(b) for b in batches) < 2:
        time.sleep(0.2)
    (root / "new.txt").unlink()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(b.get("new.txt") == "deleted" for b in batches):
        time.sleep(0.2)
    stop.set()
    watcher.join(10)

    seen: dict[str, list[str]] = {}
    for batch in batches:
        for name, change in batch.items():
            seen.setdefault(name, []).append(change)
    assert seen["new.txt"][0] == "created" and seen["new.txt"][-1] == "deleted"
    assert set(seen["old.txt"]) == {"changed"}
    assert "sub" not in seen

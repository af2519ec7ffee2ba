"""Crash convergence: an ingest killed with SIGKILL at seeded points converges, after a rerun, to exactly the
state of a clean run (Weaviate objects and manifest rows), with no duplicate, missing or orphaned chunk.

The killed ingest is a process of its own (forked from a pre-loaded server, see `tests.support.convergence`); the
rerun happens in the test process. Kills land at seeded checkpoints (before each Weaviate write or delete and
each manifest write) or after a seeded delay. Three scenarios: a first ingest of the folder, an ingest after
files were edited, added and deleted since the last run, and the same where the folder changes again between
the crash and the rerun. Each trial and clean run has a collection of its own.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from schemas.settings import Settings
from tasks.ingestion.run import ingest
from tasks.testbed.corpus import body
from tests.support.convergence import (
    IngestForks,
    State,
    child_settings,
    differences,
    forget_manifest,
    ingest_recording,
    snapshot,
    warm_up,
    write_folder,
)
from tests.support.readers import warehouse_rows

SEED = 20240917


def _html(title: str, text: str) -> str:
    return f"<html><body><h1>{title}</h1><p>{text}</p></body></html>"


V1 = {
    "alpha.txt": body("alpha", 16),
    "bravo.md": "# Bravo\n\n" + body("bravo", 8),
    "charlie.html": _html("Charlie", body("charlie", 10)),
    "delta.txt": body("delta", 6),
    "hotel.md": "# Hotel\n\n" + body("hotel", 12),
}
# Since V1: alpha shrinks, delta grows, charlie is deleted, foxtrot and golf are new, hotel is emptied
# (quarantined, so its chunks go); bravo is unchanged.
V2 = {
    "alpha.txt": body("alpha-edited", 5),
    "bravo.md": V1["bravo.md"],
    "delta.txt": body("delta-edited", 20),
    "foxtrot.md": "# Foxtrot\n\n" + body("foxtrot", 9),
    "golf.html": _html("Golf", body("golf", 14)),
    "hotel.md": "",
}
# Between a crash and its rerun: the new foxtrot is removed again, delta is reverted and charlie restored.
V3 = {name: text for name, text in V2.items() if name != "foxtrot.md"} | {
    "delta.txt": V1["delta.txt"],
    "charlie.html": V1["charlie.html"],
}

# (scenario, kill mode, trials); scenarios: "fresh" = V2 into an empty collection, "edit" = V2 over an
# ingested V1, "changed" = as "edit", but the folder becomes V3 before the rerun. Kill modes: a seeded sample of
# checkpoints (None: every eligible one, in seeded order), or seeded delays.
TRIALS = [
    ("fresh", "checkpoint", 4),
    ("fresh", "timer", 1),
    ("edit", "checkpoint", 5),
    ("edit", "timer", 2),
    ("changed", "checkpoint", None),
    ("changed", "timer", 2),
]
# The same on a DuckLake warehouse (PostgreSQL catalog): a seeded subset, 8 trials.
LAKE_TRIALS = [
    ("fresh", "checkpoint", 2),
    ("edit", "checkpoint", 3),
    ("changed", "checkpoint", 2),
    ("edit", "timer", 1),
]
# Checkpoints where Weaviate is ahead of the manifest: the interesting ones when the folder changes again.
AHEAD_OF_MANIFEST = ("before recording", "before a Weaviate delete", "before forgetting")


@dataclass
class Plan:
    scenario: str
    pause_at: int
    delay_s: float | None
    landed: str = ""  # where the kill landed, once the trial ran


@dataclass(frozen=True)
class References:
    v2: State
    v3: State
    checkpoints: dict[str, list[str]]  # scenario -> checkpoint labels of a clean run
    seconds: dict[str, float]  # scenario -> seconds from the first to the last checkpoint


def _clean_runs(settings: Settings, root: Path, prefix: str) -> References:
    """The clean reference states, and the checkpoint sequences of the runs the trials kill."""
    write_folder(root, V2)
    fresh, fresh_s = ingest_recording(root, settings, f"{prefix}RefFresh")
    v2 = _final_state(settings, f"{prefix}RefFresh")
    assert differences(v2, v2) == [] and v2.objects
    write_folder(root, V1)
    ingest(root, child_settings(settings), f"{prefix}RefEdit")
    write_folder(root, V2)
    edit, edit_s = ingest_recording(root, settings, f"{prefix}RefEdit")
    assert differences(_final_state(settings, f"{prefix}RefEdit"), v2) == [], (
        "an incremental run differs from a fresh one"
    )
    write_folder(root, V3)
    ingest(root, child_settings(settings), f"{prefix}RefV3")
    v3 = _final_state(settings, f"{prefix}RefV3")
    assert differences(v3, v3) == []
    checkpoints = {"fresh": fresh, "edit": edit, "changed": edit}
    return References(v2, v3, checkpoints, {"fresh": fresh_s, "edit": edit_s, "changed": edit_s})


def _final_state(settings: Settings, base: str) -> State:
    """The collection's state; its manifest rows are then dropped, so the next run of the folder (into a
    collection of its own) starts from an empty manifest."""
    state = snapshot(settings, base)
    forget_manifest(settings, base)
    return state


def _plans(references: References, rng: random.Random, trials_spec: list[tuple]) -> list[Plan]:
    """Seeded kill points: distinct checkpoints per scenario, or a delay within a clean run's duration (the
    run is then held at its last checkpoint, so the kill always lands before it finishes)."""
    plans = []
    for scenario, mode, trials in trials_spec:
        labels = references.checkpoints[scenario]
        if mode == "timer":
            seconds = references.seconds[scenario]
            plans += [Plan(scenario, len(labels), round(rng.uniform(0, seconds), 2)) for _ in range(trials)]
            continue
        eligible = [
            n
            for n, label in enumerate(labels, 1)
            if scenario != "changed" or label.startswith(AHEAD_OF_MANIFEST)
        ]
        plans += [Plan(scenario, n, None) for n in rng.sample(eligible, trials or len(eligible))]
    return plans


def _trial(
    settings: Settings, root: Path, base: str, forks: IngestForks, plan: Plan, references: References
) -> list[str]:
    """Prepare the scenario in collection `base`, run an ingest process until it is killed, rerun in-process;
    returns what differs from the clean run."""
    if plan.scenario != "fresh":
        write_folder(root, V1)
        ingest(root, child_settings(settings), base)
    write_folder(root, V2)
    killed = forks.kill_run(root, base, plan.pause_at, plan.delay_s)
    timer = f" {plan.delay_s}s after the first checkpoint" if killed.killed_by == "timer" else ""
    plan.landed = f"{killed.landed} (checkpoint {len(killed.events)}, by {killed.killed_by}{timer})"
    if plan.scenario == "changed":
        write_folder(root, V3)
    rerun = ingest(root, child_settings(settings), base)
    assert rerun.status in ("completed", "completed_with_failures"), rerun
    reference = references.v3 if plan.scenario == "changed" else references.v2
    return differences(_final_state(settings, base), reference)


def test_killed_ingest_converges_on_rerun(running_services: Settings, tmp_path: Path) -> None:
    _converge(running_services, tmp_path, TRIALS, "CrashTrial")


def test_killed_ingest_converges_on_rerun_on_ducklake(
    running_services: Settings, new_lake, tmp_path: Path, monkeypatch
) -> None:
    """The same trials (a subset) with the warehouse on a DuckLake: the killed process and the rerun share it."""
    lake = new_lake()
    monkeypatch.setenv("RAGROUTE_WAREHOUSE", lake.attach)  # for the fork server's processes
    monkeypatch.setenv("RAGROUTE_WAREHOUSE_DATA_PATH", lake.data_path)
    settings = running_services.model_copy(
        update={"warehouse": lake.attach, "warehouse_data_path": lake.data_path}
    )
    _converge(settings, tmp_path, LAKE_TRIALS, "LakeCrashTrial")


def _converge(settings: Settings, tmp_path: Path, trials: list[tuple], prefix: str) -> None:
    root = tmp_path / "docs"
    forks = IngestForks()
    failed = []
    try:
        warm_up(settings, tmp_path / "warm-up")  # so that clean-run timings match a warm ingest process
        references = _clean_runs(settings, root, prefix)
        for number, plan in enumerate(_plans(references, random.Random(SEED), trials), 1):
            began = time.monotonic()
            problems = _trial(settings, root, f"{prefix}{number}", forks, plan, references)
            outcome = "; ".join(problems) or "converged"
            seconds = time.monotonic() - began
            print(f"trial {number:2d} {plan.scenario:7s} killed {plan.landed} [{seconds:.0f}s]: {outcome}")
            if problems:
                failed.append(f"trial {number} ({plan.scenario}, killed {plan.landed}): {outcome}")
    finally:
        forks.close()
    assert not failed, "\n".join(failed)
    # Each killed run was marked interrupted when the rerun started; none is left 'running'.
    statuses = dict(
        warehouse_rows(
            settings,
            f"SELECT status, count(*) FROM ingest_runs WHERE collection LIKE '{prefix}%' GROUP BY status",
        )
    )
    assert "running" not in statuses and statuses.get("interrupted", 0) >= number, statuses

"""Open a report in headless Chromium: count rendered charts, collect console errors, take a screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
]  # fmt: skip


@dataclass
class BrowserCheck:
    charts_rendered: int
    console_errors: list[str]
    screenshot: Path


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise FileNotFoundError("Chromium not found: `make setup` installs Debian's chromium package")


def check_report(report: Path, screenshot: Path, timeout_s: float = 120) -> BrowserCheck:
    browser = _chromium()
    url = report.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            [*common, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        subprocess.run(
            [*common, "--hide-scrollbars", "--window-size=1400,2600", f"--screenshot={screenshot}", url],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    charts = len(re.findall(r'<svg class="main-svg"', dom.stdout)) // 2  # plotly draws two layers per chart
    errors = [
        line
        for line in dom.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line or "error" in line.lower())
    ]
    return BrowserCheck(charts_rendered=charts, console_errors=errors, screenshot=screenshot)

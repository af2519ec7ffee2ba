"""Open a report in headless Chromium: count rendered charts, collect console errors, measure the layout as a
reader sees it (toolbars over titles, clipped labels, a page wider than the window, panels with nothing in
them) and take a screenshot.

The page is measured by a script added to a copy of the report: it runs once the charts are drawn and writes
what it found into the DOM, which Chromium dumps. The report itself is never changed.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
]  # fmt: skip
WINDOW = (1400, 2600)

# Measures each panel (`section.card`) of the page; the result goes into <pre id="layout-check">.
# Titles: the panel's heading and subtitle, the chart's own title and its facet titles. Toolbar: plotly's
# modebar, measured whether or not it is showing (it shows on hover). Labels: tick labels, axis titles,
# annotations and point labels must lie inside their chart (plotly's SVG clips what does not); axis titles,
# facet titles and point labels must not cover one another.
MEASURE_JS = """() => {
  const box = el => el.getBoundingClientRect();
  const visible = r => r.width > 0 && r.height > 0;
  const overlap = (a, b) => visible(a) && visible(b) &&
    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1 &&
    a.bottom <= b.bottom + 1;
  const text = el => ((el && el.textContent) || '').trim().slice(0, 80);
  const TITLES = 'h2, .subtitle, .gtitle, .annotation-text';
  const AXIS_TITLES = '[class^="g-x"][class$="title"] text, [class^="g-y"][class$="title"] text';
  const LABELS = '.xtick text, .ytick text, ' + AXIS_TITLES + ', .gtitle, .annotation-text, ' +
                 '.textpoint text, .cbtitle text';
  const NAMES = AXIS_TITLES + ', .gtitle, .annotation-text, .textpoint text';
  const result = {toolbar_overlaps: [], clipped_labels: [], crowded_labels: [], empty_panels: [], panels: 0,
                  toolbars: 0, charts_rendered: document.querySelectorAll('.js-plotly-plot .svg-container').length,
                  page_overflow_px: Math.max(0, document.documentElement.scrollWidth - window.innerWidth)};
  document.querySelectorAll('section.card').forEach(card => {
    result.panels += 1;
    const name = text(card.querySelector('h2'));
    const titles = [...card.querySelectorAll(TITLES)].filter(t => text(t));
    card.querySelectorAll('.modebar').forEach(bar => {
      result.toolbars += 1;
      titles.filter(t => overlap(box(bar), box(t)))
            .forEach(t => result.toolbar_overlaps.push(`${name}: toolbar over "${text(t)}"`));
    });
    card.querySelectorAll('.js-plotly-plot').forEach(plot => {
      const area = box(plot);
      const labels = [...plot.querySelectorAll(LABELS)].filter(label => text(label) && visible(box(label)));
      labels.filter(label => !inside(box(label), area))
            .forEach(label => result.clipped_labels.push(`${name}: "${text(label)}"`));
      const named = [...plot.querySelectorAll(NAMES)].filter(label => text(label) && visible(box(label)));
      named.forEach((a, i) => named.slice(i + 1).filter(b => overlap(box(a), box(b))).forEach(b =>
        result.crowded_labels.push(`${name}: "${text(a)}" over "${text(b)}"`)));
    });
    const drawn = card.querySelector('.js-plotly-plot, table');
    const said = [...card.querySelectorAll('.empty')].some(p => /\\w.*[.!?]$/.test(p.textContent.trim()));
    if (!drawn && !said) result.empty_panels.push(name);
  });
  const out = document.createElement('pre');
  out.id = 'layout-check';
  out.hidden = true;
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
}"""
# Shows every toolbar in the screenshot, as a reader hovering over each chart would see it.
SHOW_TOOLBARS_CSS = ".js-plotly-plot .plotly .modebar--hover > *{opacity:1 !important}"


@dataclass
class BrowserCheck:
    charts_rendered: int
    console_errors: list[str]
    screenshot: Path
    panels: int = 0
    toolbars: int = 0  # chart toolbars measured
    toolbar_overlaps: list[str] = field(default_factory=list)  # "panel: toolbar over "title""
    clipped_labels: list[str] = field(default_factory=list)  # labels outside their chart's box
    crowded_labels: list[str] = field(default_factory=list)  # titles or point labels over one another
    empty_panels: list[str] = field(default_factory=list)  # panels with no chart, table or sentence
    page_overflow_px: int = 0  # how far the page is wider than the window

    @property
    def layout_problems(self) -> list[str]:
        overflow = [f"page {self.page_overflow_px}px wider than the window"] if self.page_overflow_px else []
        empty = [f"{name}: nothing drawn and no sentence saying why" for name in self.empty_panels]
        return [*self.toolbar_overlaps, *self.clipped_labels, *self.crowded_labels, *empty, *overflow]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise FileNotFoundError("Chromium not found: `make setup` installs Debian's chromium package")


def _instrumented(report: Path, folder: Path) -> Path:
    """A copy of the report that measures itself once its charts are drawn and shows its toolbars."""
    page = report.read_text(encoding="utf-8")
    script = f"<script>window.addEventListener('load', () => setTimeout({MEASURE_JS}, 1000));</script>"
    style = f"<style>{SHOW_TOOLBARS_CSS}</style>"
    head, tail = page.rsplit("</body>", 1) if "</body>" in page else (page, "")
    copy = folder / report.name
    copy.write_text(f"{head}{style}{script}</body>{tail}", encoding="utf-8")
    return copy


def _measured(dom: str) -> dict:
    found = re.search(r'<pre id="layout-check"[^>]*>(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(
            "the report's layout was not measured: the page did not finish loading in Chromium"
        )
    return json.loads(html.unescape(found.group(1)))


def check_report(
    report: Path, screenshot: Path, timeout_s: float = 120, window: tuple[int, int] = WINDOW
) -> BrowserCheck:
    browser = _chromium()
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as pages:
        url = _instrumented(report, Path(pages)).resolve().as_uri()
        common = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
        ]
        dom = subprocess.run(
            [*common, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        subprocess.run(
            [*common, "--hide-scrollbars", f"--screenshot={screenshot}", url],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    errors = [
        line
        for line in dom.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line or "error" in line.lower())
    ]
    layout = _measured(dom.stdout)
    return BrowserCheck(console_errors=errors, screenshot=screenshot, **layout)

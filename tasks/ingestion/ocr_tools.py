"""What OCR needs on the machine that extracts, and the OCR engine itself.

Pages are read by tesseract in this process (the `tesserocr` binding, one engine per process and thread, kept
between pages: the command line would load the language model again for every page, ~9% of a page's CPU).
The engine ships with the Python package; the machine must hold tesseract's language data for every language
in `ocr_languages` (Debian: `tesseract-ocr-<lang>`), and poppler's `pdfinfo` and `pdftoppm` render scanned PDF
pages that are not one embedded image. A missing one is the machine's fault, not the file's: the files that need
it end in `error` and are retried by the next run.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from schemas.settings import Settings

# Where distributions put tesseract's language data, searched in order when `ocr_tessdata` is not set.
TESSDATA_FOLDERS = (
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
    Path("/usr/share/tessdata"),
    Path("/usr/local/share/tessdata"),
)
# program -> (Debian package, what it is needed for)
POPPLER_PROGRAMS = {
    "pdfinfo": ("poppler-utils", "rendering scanned PDF pages"),
    "pdftoppm": ("poppler-utils", "rendering scanned PDF pages"),
}


class MachineFailure(Exception):
    """A file could not be extracted for a reason outside it (missing language data or program, a killed
    process); `reason` says what to fix. The document ends in `error`, not quarantine, and is retried."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def tessdata_folder(settings: Settings) -> Path | None:
    """The folder of tesseract's language data: `ocr_tessdata` when set, else the first usual place that
    holds any (None: none does)."""
    if settings.ocr_tessdata is not None:
        return settings.ocr_tessdata
    return next((folder for folder in TESSDATA_FOLDERS if any(folder.glob("*.traineddata"))), None)


def missing_languages(settings: Settings) -> list[str]:
    """The languages of `ocr_languages` whose tesseract data this machine lacks."""
    folder = tessdata_folder(settings)
    return [
        language
        for language in settings.ocr_languages.split("+")
        if folder is None or not (folder / f"{language}.traineddata").is_file()
    ]


def _language_data(language: str) -> str:
    return f"tesseract-ocr-{language}"


def missing_ocr_tools(settings: Settings, programs: tuple[str, ...] = tuple(POPPLER_PROGRAMS)) -> list[str]:
    """What OCR needs and this machine lacks: `tesseract-ocr-<lang>` language data, then poppler programs."""
    return [_language_data(language) for language in missing_languages(settings)] + [
        name for name in programs if shutil.which(name) is None
    ]


def _package(missing: str) -> str:
    return POPPLER_PROGRAMS[missing][0] if missing in POPPLER_PROGRAMS else missing


def missing_tool_failure(name: str, settings: Settings) -> MachineFailure:
    """The failure for one missing need: a poppler program, or a language's tesseract data."""
    if name in POPPLER_PROGRAMS:
        package, purpose = POPPLER_PROGRAMS[name]
        return MachineFailure(f"{name} not found on PATH (needed for {purpose}; install {package})")
    folder = tessdata_folder(settings)
    where = f"in {folder}" if folder else "(no tessdata folder found)"
    return MachineFailure(
        f"{name} language data not found {where} (needed for OCR of images and scanned PDF pages; install "
        f"{name} or set RAGROUTE_OCR_TESSDATA)"
    )


def require(settings: Settings, *programs: str) -> None:
    """Raise `MachineFailure` naming the first missing language data or program among `programs`."""
    if missing := missing_ocr_tools(settings, programs):
        raise missing_tool_failure(missing[0], settings)


def missing_tools_warning(missing: list[str], where: str = "") -> str | None:
    """One line naming what OCR lacks and what happens to the files that need it (None: nothing)."""
    if not missing:
        return None
    packages = sorted({_package(name) for name in missing})
    return (
        f"{', '.join(missing)} not found{where} (install {', '.join(packages)}): images and scanned PDF pages "
        "that need it end in `error`, keep their older indexed version and are retried by the next run"
    )


def ocr_tools_status(settings: Settings) -> dict:
    """Where OCR's needs are on this machine (None: missing), the missing ones and the warning about them."""
    missing = missing_ocr_tools(settings)
    folder = tessdata_folder(settings)
    found = {
        _language_data(language): None if _language_data(language) in missing else str(folder)
        for language in settings.ocr_languages.split("+")
    }
    programs = found | {name: shutil.which(name) for name in POPPLER_PROGRAMS}
    return {"programs": programs, "missing": missing, "warning": missing_tools_warning(missing)}


_engines = threading.local()  # tesserocr's engine is not thread-safe: one per thread


def _engine(settings: Settings):
    """This thread's tesseract engine for the settings' languages and data, started once and reused."""
    import tesserocr

    key = (str(tessdata_folder(settings)), settings.ocr_languages)
    engines: dict = _engines.__dict__.setdefault("by_key", {})
    if key not in engines:  # a started engine holds its language data: checked once, before it starts
        require(settings)  # every language's data, before the engine would fail without saying which
        engines[key] = tesserocr.PyTessBaseAPI(path=f"{key[0]}/", lang=settings.ocr_languages)
    return engines[key]


def recognise(image: Image.Image | Path, settings: Settings) -> tuple[str, list[int]]:
    """The text of one page (an image, or an image file read by tesseract itself) and its words'
    confidences (0-100). A page tesseract cannot read raises `RuntimeError`."""
    engine = _engine(settings)
    try:
        if isinstance(image, Path):
            engine.SetImageFile(str(image))
        else:
            engine.SetImage(image)
        return engine.GetUTF8Text(), list(engine.AllWordConfidences())
    finally:
        engine.Clear()

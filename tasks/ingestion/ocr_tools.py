"""The programs OCR needs on the machine that extracts: tesseract reads images and scanned pages, poppler's
`pdfinfo` and `pdftoppm` render scanned PDF pages that are not one embedded image. A missing one is the
machine's fault, not the file's: the files that need it end in `error` and are retried by the next run."""

from __future__ import annotations

import shutil

# program -> (Debian package, what it is needed for)
OCR_TOOLS = {
    "tesseract": ("tesseract-ocr", "OCR of images and scanned PDF pages"),
    "pdfinfo": ("poppler-utils", "rendering scanned PDF pages"),
    "pdftoppm": ("poppler-utils", "rendering scanned PDF pages"),
}


class MachineFailure(Exception):
    """A file could not be extracted for a reason outside it (a missing program, a killed process);
    `reason` says what to fix. The document ends in `error`, not quarantine, and is retried."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def missing_ocr_tools(names: tuple[str, ...] = tuple(OCR_TOOLS)) -> list[str]:
    """The OCR programs among `names` that are not on this process's PATH."""
    return [name for name in names if shutil.which(name) is None]


def missing_tool_failure(name: str) -> MachineFailure:
    package, purpose = OCR_TOOLS[name]
    return MachineFailure(f"{name} not found on PATH (needed for {purpose}; install {package})")


def require(*names: str) -> None:
    """Raise `MachineFailure` naming the first of `names` missing from PATH."""
    if missing := missing_ocr_tools(names):
        raise missing_tool_failure(missing[0])


def missing_tools_warning(missing: list[str], where: str = "") -> str | None:
    """One line naming the missing programs and what happens to the files that need them (None: none)."""
    if not missing:
        return None
    packages = sorted({OCR_TOOLS[name][0] for name in missing})
    return (
        f"{', '.join(missing)} not found on PATH{where} (install {', '.join(packages)}): images and scanned PDF "
        "pages that need it end in `error`, keep their older indexed version and are retried by the next run"
    )


def ocr_tools_status() -> dict:
    """Where each OCR program is on PATH (None: missing), the missing ones and the warning about them."""
    missing = missing_ocr_tools()
    programs = {name: shutil.which(name) for name in OCR_TOOLS}
    return {"programs": programs, "missing": missing, "warning": missing_tools_warning(missing)}

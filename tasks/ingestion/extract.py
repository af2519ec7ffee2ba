"""Extract text from one document: `unstructured` for text layers, tesseract OCR for pages without one.

`extract_document` never returns a half-read document: it raises `BadDocument` with a reason a person can act
on when the file itself is bad (the caller quarantines it), and `MachineFailure` or another exception when the
machine failed (missing OCR language data or program, a killed process, memory): the document ends in `error` and is retried.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

from PIL import Image

from schemas.documents import Element, ExtractedDocument, QuarantineRecord
from schemas.settings import Settings
from tasks.ingestion.hashing import doc_id_for, file_sha256
from tasks.ingestion.ocr_tools import MachineFailure, missing_tool_failure, recognise, require
from tasks.ingestion.outcome import Outcome, cpu_seconds

# Extension -> kind. The file's content must agree with its extension (see `_check_content`).
KINDS = {
    ".pdf": "pdf",
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image",
    ".docx": "docx", ".pptx": "pptx",
    ".html": "html", ".htm": "html",
    ".md": "markdown", ".markdown": "markdown",
    ".txt": "text",
    ".eml": "email",
}  # fmt: skip
TEXT_KINDS = {"html", "markdown", "text", "email"}
# What libmagic may call each kind's content.
MIME_PREFIXES = {
    "pdf": ("application/pdf",),
    "image": ("image/png", "image/jpeg", "image/tiff"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml", "application/zip",
             "application/octet-stream"),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml", "application/zip",
             "application/octet-stream"),
}  # fmt: skip
# Office files are ZIP archives. Their XML compresses 5-20x and images not at all, so a large archive that
# would expand more than ZIP_MAX_RATIO times is a zip bomb; none may expand past ZIP_MAX_FILE_MULTIPLE x the
# file size limit.
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_BYTES = 10 * 1024 * 1024
ZIP_MAX_FILE_MULTIPLE = 20
# Smaller images cannot hold a line of text tesseract could read.
MIN_OCR_PIXELS = 10
# Failures of the machine, never of the file: parsers' catch-alls let them through.
MACHINE_ERRORS = (MachineFailure, MemoryError)


class BadDocument(Exception):
    """The file cannot be indexed; `reason` says why in words a person can act on."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _check_file(path: Path, settings: Settings) -> str:
    """The document's kind, after the checks that need no parsing."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise BadDocument(
            f"unsupported file type '{path.suffix or '(no extension)'}'",
            f"supported: {', '.join(sorted(KINDS))}",
        )
    size = path.stat().st_size
    if size == 0:
        raise BadDocument("empty file (0 bytes)")
    if size > settings.max_file_bytes:
        raise BadDocument(
            f"file too large: {size} bytes > limit {settings.max_file_bytes} (RAGROUTE_MAX_FILE_BYTES)"
        )
    if kind in TEXT_KINDS and kind != "email":  # e-mails declare their own charsets
        _check_text(path.read_bytes())
    _check_content(path, kind)
    if kind in ("docx", "pptx"):
        _check_zip(path, settings)
    elif kind == "html":
        _check_html_depth(path)
    return kind


def _check_text(raw: bytes) -> None:
    """Text files must be UTF-8 text: no NUL bytes (binary data), no other encodings."""
    if (nul := raw.find(b"\x00")) >= 0:
        raise BadDocument(f"text file contains NUL bytes (first at offset {nul}): it is binary, not text")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadDocument(
            f"text is not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start}); "
            "convert the file to UTF-8"
        ) from error


def _check_zip(path: Path, settings: Settings) -> None:
    """Refuse a DOCX/PPTX that is not a ZIP archive, or whose declared uncompressed size is a zip bomb's.

    Only the archive's directory is read; nothing is decompressed."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise BadDocument(f"corrupt {path.suffix} file: it is not a valid ZIP archive", str(error)) from error
    expanded = sum(member.file_size for member in members)
    packed = max(sum(member.compress_size for member in members), 1)
    limit = settings.max_file_bytes * ZIP_MAX_FILE_MULTIPLE
    if expanded > limit or (expanded > ZIP_RATIO_MIN_BYTES and expanded > packed * ZIP_MAX_RATIO):
        raise BadDocument(
            f"zip bomb: the {path.suffix} archive would expand to {expanded} bytes from {packed} "
            f"(ratio {expanded // packed}:1; limits {ZIP_MAX_RATIO}:1 and {limit} bytes); it was not opened"
        )


def _check_html_depth(path: Path) -> None:
    """libxml2, which parses HTML for `unstructured`, stops at 256 nested elements and silently drops what
    lies deeper: refuse such a page instead of indexing part of it."""
    from lxml import etree

    parser = etree.HTMLParser()
    etree.fromstring(path.read_bytes(), parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise BadDocument(
            "HTML nested too deeply: more than 255 levels of elements, the parser would drop the text inside",
            "; ".join(error.message for error in parser.error_log)[:500],
        )


def _check_content(path: Path, kind: str) -> None:
    import magic

    mime = magic.from_file(str(path), mime=True)
    if kind in MIME_PREFIXES:
        if not mime.startswith(MIME_PREFIXES[kind]):
            raise BadDocument(f"content does not match extension {path.suffix}: the file is {mime}")
    elif not mime.startswith(("text/", "message/", "application/json", "application/xml", "inode/x-empty")):
        raise BadDocument(f"content does not match extension {path.suffix}: the file is {mime}")


def ocr_image(image: Image.Image | Path, settings: Settings) -> tuple[str, float | None]:
    """OCR one page (an image, or an image file read by tesseract itself); returns its text, line by line,
    and the mean word confidence."""
    try:
        text, confidences = recognise(image, settings)
    except RuntimeError as error:  # tesserocr's error for an image tesseract cannot read
        raise BadDocument("tesseract cannot read the image", str(error)[:500]) from error
    lines = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    return lines, (sum(confidences) / len(confidences) if confidences else None)


def _ocr_element(image: Image.Image | Path, page: int, settings: Settings) -> Element | None:
    text, confidence = ocr_image(image, settings)
    if not text.strip():
        return None
    return Element(text=text, page=page, element_type="OCRText", ocr=True, ocr_confidence=confidence)


def _unstructured_elements(elements) -> list[Element]:
    return [
        Element(text=el.text, page=el.metadata.page_number or 1, element_type=el.category)
        for el in elements
        if el.text and el.text.strip()
    ]


def _pdf_page_image(reader, path: Path, page_number: int, settings: Settings) -> Image.Image:
    """A scanned page at its native resolution when it is one embedded image, else rendered at 300 dpi."""
    try:
        images = reader.pages[page_number - 1].images
        if len(images) == 1:
            return images[0].image
    except MACHINE_ERRORS:
        raise
    except Exception:  # an embedded image pypdf cannot decode: poppler renders the page instead
        pass
    from pdf2image import convert_from_path
    from pdf2image.exceptions import PDFInfoNotInstalledError, PDFPageCountError, PDFSyntaxError

    require(settings, "pdfinfo", "pdftoppm")
    try:
        return convert_from_path(str(path), dpi=300, first_page=page_number, last_page=page_number)[0]
    except PDFInfoNotInstalledError as error:
        raise missing_tool_failure("pdfinfo", settings) from error
    except (PDFPageCountError, PDFSyntaxError) as error:
        raise BadDocument(f"corrupt PDF: page {page_number} cannot be rendered", str(error)[:500]) from error


def _extract_pdf(path: Path, settings: Settings) -> tuple[list[Element], int, int]:
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadDocument("encrypted PDF: it needs a password")
        page_count = len(reader.pages)
    except BadDocument:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise BadDocument("corrupt PDF: it cannot be parsed", f"{type(error).__name__}: {error}") from error
    if reader.is_encrypted:
        raise BadDocument("encrypted PDF: text extraction is not permitted")
    if page_count == 0:
        raise BadDocument("PDF has no pages")

    from unstructured.partition.pdf import partition_pdf

    try:
        elements = _unstructured_elements(
            partition_pdf(filename=str(path), strategy="fast", languages=settings.ocr_languages.split("+"))
        )
    except MACHINE_ERRORS:
        raise
    except Exception as error:  # pdfminer raises many kinds of errors on damaged files
        raise BadDocument(
            "corrupt PDF: its text layer cannot be read", f"{type(error).__name__}: {error}"
        ) from error
    pages_with_text = {el.page for el in elements}
    pages_ocr = 0
    for page in range(1, page_count + 1):
        if page in pages_with_text:
            continue
        ocr = _ocr_element(_pdf_page_image(reader, path, page, settings), page, settings)
        pages_ocr += 1
        if ocr:
            elements.append(ocr)
    elements.sort(key=lambda el: el.page)
    return elements, page_count, pages_ocr


def _extract_image(path: Path, settings: Settings) -> tuple[list[Element], int, int]:
    """OCR each frame. Only reading the image can make it 'unreadable': an OCR call that fails is the
    machine's failure (no language data, a killed process) and must not quarantine a good scan."""
    with _open_image(path) as image:
        if min(image.size) < MIN_OCR_PIXELS:
            raise BadDocument(
                f"image too small to OCR: {image.width}x{image.height} pixels "
                f"(at least {MIN_OCR_PIXELS}x{MIN_OCR_PIXELS})"
            )
        frames = getattr(image, "n_frames", 1)
        if frames == 1:  # tesseract reads the file itself: no re-encoding
            element = _ocr_element(path, 1, settings)
            return ([element] if element else []), 1, 1
        elements = []
        for frame in range(frames):
            element = _ocr_element(_frame(image, frame), frame + 1, settings)
            if element:
                elements.append(element)
    return elements, frames, frames


def _open_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.verify()
        return Image.open(path)
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise BadDocument("unreadable image", f"{type(error).__name__}: {error}") from error


def _frame(image: Image.Image, frame: int) -> Image.Image:
    try:
        image.seek(frame)
        return image.convert("RGB")
    except (OSError, EOFError, SyntaxError) as error:
        raise BadDocument(
            f"unreadable image: frame {frame + 1}", f"{type(error).__name__}: {error}"
        ) from error


def _extract_with_unstructured(path: Path, kind: str, settings: Settings) -> tuple[list[Element], int, int]:
    from unstructured.partition.auto import partition

    try:
        elements = partition(filename=str(path), languages=settings.ocr_languages.split("+"), strategy="fast")
    except MACHINE_ERRORS:
        raise
    except Exception as error:  # each format's parser raises its own errors
        raise BadDocument(f"cannot parse {kind} file", f"{type(error).__name__}: {error}") from error
    result = _unstructured_elements(elements)
    pages = max((el.page for el in result), default=1)
    return result, pages, 0


def extract_document(path: Path, settings: Settings) -> ExtractedDocument:
    """Read one file into elements with page numbers; raises BadDocument for anything not indexable."""
    started = time.perf_counter()
    try:
        kind = _check_file(path, settings)
        sha256 = file_sha256(path)
    except FileNotFoundError as error:
        raise BadDocument("file disappeared before it could be read") from error
    except PermissionError as error:
        raise BadDocument("file is not readable (permission denied)") from error
    try:
        if kind == "pdf":
            elements, pages, pages_ocr = _extract_pdf(path, settings)
        elif kind == "image":
            elements, pages, pages_ocr = _extract_image(path, settings)
        else:
            elements, pages, pages_ocr = _extract_with_unstructured(path, kind, settings)
    except FileNotFoundError as error:
        if path.exists():  # a program the parser runs is missing, not the file
            raise
        raise BadDocument("file disappeared while it was being read") from error
    if not elements:
        raise BadDocument("no text found" + (" (OCR read nothing)" if pages_ocr else ""))
    _check_ocr_confidence(elements, settings)
    return ExtractedDocument(
        path=str(path),
        doc_id=doc_id_for(path),
        sha256=sha256,
        kind=kind,
        pages=pages,
        pages_ocr=pages_ocr,
        elements=elements,
        seconds=time.perf_counter() - started,
    )


def _check_ocr_confidence(elements: list[Element], settings: Settings) -> None:
    """A document whose text all comes from OCR read with low confidence (a rotated, blurred or tiny scan)
    yields only garbage: refuse it as a whole, with the confidence in the reason."""
    confidences = [el.ocr_confidence for el in elements if el.ocr and el.ocr_confidence is not None]
    if len(confidences) == len(elements) and max(confidences) < settings.min_ocr_confidence:
        raise BadDocument(
            f"OCR confidence too low: {max(confidences):.0f} < {settings.min_ocr_confidence:.0f} "
            "(RAGROUTE_MIN_OCR_CONFIDENCE); the scan may be rotated, blurred or too small"
        )


def extract_outcome(path: Path, sha256: str, settings: Settings) -> Outcome:
    """Extract one file; a failure becomes an outcome with a problem instead of an exception: a bad file's
    is quarantined, the machine's (any error but `BadDocument`) leaves the document in `error`."""
    try:
        started = cpu_seconds()
        document = extract_document(path, settings)
        return Outcome(path, sha256, document, cpu_seconds=cpu_seconds() - started)
    except BadDocument as error:
        return _problem(path, sha256, error.reason, error.detail)
    except MachineFailure as error:
        return _problem(path, sha256, error.reason, error.detail, failed=True)
    except Exception as error:  # a parser bug or the machine: retried, the older version kept meanwhile
        reason = f"extraction failed: {type(error).__name__}"
        return _problem(path, sha256, reason, str(error)[:500], failed=True)


def _problem(path: Path, sha256: str, reason: str, detail: str | None, failed: bool = False) -> Outcome:
    problem = QuarantineRecord(path=str(path), stage="extract", reason=reason, detail=detail)
    return Outcome(path=path, sha256=sha256, problem=problem, failed=failed)

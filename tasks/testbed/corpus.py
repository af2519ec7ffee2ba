"""Generate real documents of every supported kind, plus bad ones (for the ingestion tests and benchmarks)."""

from __future__ import annotations

import io
import os
import random
import re
import textwrap
import zipfile
from email.message import EmailMessage
from pathlib import Path

from tasks.evaluation.mini import page_image

PARAGRAPH = (
    "The harbour office keeps a ledger of every vessel that enters the bay. Each entry records the name of "
    "the ship, the hour of arrival, the cargo declared and the berth assigned by the duty officer. "
)


def body(topic: str, sentences: int = 12) -> str:
    """Readable English text about `topic` with a planted sentence that names it."""
    planted = f"The secret code word for {topic} is {topic.upper()}-7. "
    return planted + PARAGRAPH * sentences


def text_pdf(path: Path | io.BytesIO, pages: list[str]) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(path if isinstance(path, io.BytesIO) else str(path), pagesize=letter)
    for text in pages:
        y = 720
        for line in textwrap.wrap(text, width=90):
            pdf.drawString(60, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()


def scanned_pdf(path: Path, pages: list[str]) -> None:
    """An image-only PDF: no text layer, one embedded image per page."""
    images = [page_image(text) for text in pages]
    images[0].save(path, format="PDF", save_all=True, append_images=images[1:], resolution=200)


def docx(path: Path, text: str) -> None:
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading("Harbour report", level=1)
    document.add_paragraph(text)
    document.save(path)


def pptx(path: Path, slides: list[str]) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    for text in slides:
        slide = presentation.slides.add_slide(presentation.slide_layouts[5])
        slide.shapes.title.text = "Harbour briefing"
        box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(8), Inches(4))
        box.text_frame.word_wrap = True
        box.text_frame.text = text
    presentation.save(path)


def eml(path: Path, text: str) -> None:
    message = EmailMessage()
    message["From"] = "harbour@example.org"
    message["To"] = "office@example.org"
    message["Subject"] = "Arrivals"
    message.set_content(text)
    path.write_bytes(message.as_bytes())


def good_corpus(folder: Path) -> dict[str, str]:
    """One file of each supported kind; returns file name -> the topic planted in it."""
    folder.mkdir(parents=True, exist_ok=True)
    topics = {}

    def plant(name: str, topic: str) -> str:
        topics[name] = topic
        return body(topic)

    text_pdf(folder / "manual.pdf", [plant("manual.pdf", "anchor"), body("anchor-two")])
    scanned_pdf(folder / "scan.pdf", [plant("scan.pdf", "lantern")])
    page_image(plant("photo.png", "compass")).save(folder / "photo.png")
    docx(folder / "report.docx", plant("report.docx", "harpoon"))
    pptx(folder / "slides.pptx", [plant("slides.pptx", "rudder")])
    (folder / "page.html").write_text(
        f"<html><body><h1>Notes</h1><p>{plant('page.html', 'mooring')}</p></body></html>"
    )
    (folder / "notes.md").write_text(f"# Notes\n\n{plant('notes.md', 'keel')}\n")
    (folder / "log.txt").write_text(plant("log.txt", "tiller"))
    eml(folder / "mail.eml", plant("mail.eml", "bosun"))
    return topics


def pdf_bytes(text: str) -> bytes:
    """A one-page text PDF, as bytes."""
    buffer = io.BytesIO()
    text_pdf(buffer, [text])
    return buffer.getvalue()


def encrypted_pdf(data: bytes) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password="secret", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def empty_pdf() -> bytes:
    """A well-formed PDF with no pages."""
    import pypdf

    buffer = io.BytesIO()
    pypdf.PdfWriter().write(buffer)
    return buffer.getvalue()


def corrupt_xref_pdf(data: bytes) -> bytes:
    """The cross-reference table overwritten with offsets past the end, and the object headers damaged so
    that the table cannot be rebuilt by scanning the file either."""
    start = data.rfind(b"\nxref") + 1
    garbage = b"xref\n0 8\n" + b"9999999999 00000 n \n" * 8
    return (
        re.sub(rb"(\d+) 0 obj", rb"\1 0 ojb", data[:start]) + garbage + data[data.index(b"trailer", start) :]
    )


def zip_bomb_docx(path: Path, expanded_bytes: int = 64 * 1024 * 1024) -> None:
    """A real DOCX plus one member that declares `expanded_bytes` of zeros (about 1000:1 compressed)."""
    docx(path, body("bomb"))
    block = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/media/padding.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(expanded_bytes // len(block)):
            member.write(block)


def deeply_nested_html(depth: int = 5000) -> str:
    return f"<html><body>{'<div>' * depth}<p>{body('abyss')}</p>{'</div>' * depth}</body></html>"


def outside_target(folder: Path) -> Path:
    """A file beside (not under) `folder`, which a symbolic link in the bad corpus points to."""
    return folder.parent / f"{folder.name}-outside" / "secret.txt"


def bad_corpus(folder: Path, max_file_bytes: int) -> dict[str, str]:
    """Files that cannot be indexed; returns file name -> a fragment of the expected quarantine reason."""
    folder.mkdir(parents=True, exist_ok=True)
    data = pdf_bytes(body("x"))
    files: dict[str, bytes] = {
        "empty.txt": b"",
        "truncated.pdf": data[: len(data) // 3],
        "bad_xref.pdf": corrupt_xref_pdf(data),
        "locked.pdf": encrypted_pdf(data),
        "no_pages.pdf": empty_pdf(),
        "fake.pdf": b"this is plain text pretending to be a PDF " * 20,
        "tool.exe": b"MZ\x90\x00" + bytes(range(256)) * 4,
        "garbage.md": random.Random(7).randbytes(4096),
        "nul.txt": b"The harbour log. " * 20 + b"\x00" * 8 + b"More entries follow. " * 20,
        "latin1.txt": ("Caf\xe9 cr\xe8me br\xfbl\xe9e. " * 20).encode("latin-1"),
        "mixed_encoding.txt": "Café crème. ".encode() * 10 + "Café crème. ".encode("latin-1") * 10,
        "huge.txt": b"word " * (max_file_bytes // 5 + 10),
        "one_line.txt": b"QUJD" * 60_000,  # 240 kB on one line, without a space: no word, no chunk
        "broken.docx": b"PK\x03\x04" + random.Random(8).randbytes(2048),
        "nested.html": deeply_nested_html().encode(),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    page_image("").save(folder / "blank.png")
    page_image(body("compass")).resize((8, 8)).save(folder / "tiny.png")
    page_image(body("compass")).rotate(90, expand=True).save(folder / "rotated.png")
    page_image(body("sextant")).save(folder / "photo.docx", format="PNG")
    zip_bomb_docx(folder / "bomb.docx")
    os.mkfifo(folder / "pipe.txt")
    (folder / "loop_a.txt").symlink_to(folder / "loop_b.txt")
    (folder / "loop_b.txt").symlink_to(folder / "loop_a.txt")
    (folder / "dangling.txt").symlink_to(folder / "nowhere.txt")
    outside = outside_target(folder)
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text(f"Never to be indexed: {body('contraband')}")
    (folder / "outside.txt").symlink_to(outside)
    return {
        "empty.txt": "empty file (0 bytes)",
        "truncated.pdf": "corrupt PDF",
        "bad_xref.pdf": "corrupt PDF: it cannot be parsed",
        "locked.pdf": "encrypted PDF",
        "no_pages.pdf": "PDF has no pages",
        "fake.pdf": "content does not match extension .pdf: the file is text/plain",
        "tool.exe": "unsupported file type '.exe'",
        "garbage.md": "text file contains NUL bytes",
        "nul.txt": "text file contains NUL bytes (first at offset 340)",
        "latin1.txt": "not valid UTF-8 (byte 0xe9 at offset 3)",
        "mixed_encoding.txt": "not valid UTF-8 (byte 0xe9 at offset 143)",
        "huge.txt": "file too large",
        "one_line.txt": "no chunk passed validation",
        "broken.docx": "corrupt .docx file: it is not a valid ZIP archive",
        "nested.html": "HTML nested too deeply",
        "blank.png": "no text found (OCR read nothing)",
        "tiny.png": "image too small to OCR: 8x8 pixels",
        "rotated.png": "OCR confidence too low",
        "photo.docx": "content does not match extension .docx: the file is image/png",
        "bomb.docx": "zip bomb",
        "pipe.txt": "not a regular file (named pipe)",
        "loop_a.txt": "symbolic link loop",
        "loop_b.txt": "symbolic link loop",
        "dangling.txt": "broken symbolic link",
        "outside.txt": "symbolic link to a file outside the source folder",
    }

"""Generate real documents of every supported kind, plus bad ones, for the ingestion tests."""

from __future__ import annotations

import io
import textwrap
from email.message import EmailMessage
from pathlib import Path

from tasks.mini import page_image

PARAGRAPH = (
    "The harbour office keeps a ledger of every vessel that enters the bay. Each entry records the name of "
    "the ship, the hour of arrival, the cargo declared and the berth assigned by the duty officer. "
)


def body(topic: str, sentences: int = 12) -> str:
    """Readable English text about `topic` with a planted sentence that names it."""
    planted = f"The secret code word for {topic} is {topic.upper()}-7. "
    return planted + PARAGRAPH * sentences


def text_pdf(path: Path, pages: list[str]) -> None:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=letter)
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


def bad_corpus(folder: Path, max_file_bytes: int) -> dict[str, str]:
    """Files that cannot be indexed; returns file name -> a fragment of the expected quarantine reason."""
    import pypdf

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.txt").write_bytes(b"")
    good = io.BytesIO()
    text_pdf(folder / "_tmp.pdf", [body("x")])
    data = (folder / "_tmp.pdf").read_bytes()
    (folder / "_tmp.pdf").unlink()
    (folder / "truncated.pdf").write_bytes(data[: len(data) // 3])
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password="secret", owner_password="owner")
    writer.write(good)
    (folder / "locked.pdf").write_bytes(good.getvalue())
    page_image("").save(folder / "blank.png")
    (folder / "fake.pdf").write_bytes(b"this is plain text pretending to be a PDF " * 20)
    (folder / "tool.exe").write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 4)
    (folder / "latin1.txt").write_bytes(("Caf\xe9 cr\xe8me br\xfbl\xe9e. " * 20).encode("latin-1"))
    (folder / "huge.txt").write_text("word " * (max_file_bytes // 5 + 10))
    return {
        "empty.txt": "empty file",
        "truncated.pdf": "corrupt PDF",
        "locked.pdf": "encrypted PDF",
        "blank.png": "no text found",
        "fake.pdf": "content does not match extension",
        "tool.exe": "unsupported file type",
        "latin1.txt": "not valid UTF-8",
        "huge.txt": "file too large",
    }

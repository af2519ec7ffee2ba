"""Citations parsed from an answer: invented numbers dropped, pages followed inside a chunk."""

from __future__ import annotations

from tasks.routing.ask import Passage, parse_citations


def test_invented_citations_are_dropped_and_flagged():
    colours = {1: "amber", 2: "violet", 3: "purple"}
    passages = [
        Passage(number=n, chunk_id=f"c{n}", doc_id="d", source_path="/docs/a.txt", page=n, chunk_index=n,
                text=f"Passage {n} says the {colour} tide turns at {n} o'clock.")
        for n, colour in colours.items()
    ]  # fmt: skip
    citations, invented = parse_citations(
        "It turns at 2 o'clock [2][7].", passages, "When does the tide turn?"
    )
    assert [c.number for c in citations] == [2] and not citations[0].inferred
    assert invented == [7]
    inferred, _ = parse_citations("The purple tide turns late.", passages, "When?")
    assert inferred[0].inferred and inferred[0].number == 3 and inferred[0].page == 3


def test_evidence_page_follows_the_page_break_inside_a_chunk():
    passage = Passage(
        number=1,
        chunk_id="c",
        doc_id="d",
        source_path="/a.pdf",
        page=1,
        chunk_index=0,
        text="Ships came in. The bay was calm. The lantern is in room 9. Gulls cried.",
        page_spans=[0, 1, 7, 2],
    )
    assert passage.page_of("Ships came in.") == 1
    assert passage.page_of("The lantern is in room 9.") == 2
    citations, _ = parse_citations("Room 9 [1]", [passage], "Where is the lantern?")
    assert citations[0].page == 2 and citations[0].evidence[0] == "The lantern is in room 9."

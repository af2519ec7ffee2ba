"""Citations parsed from an answer: invented numbers dropped, pages followed inside a chunk; a decline or an
answer no passage supports means the documents do not say."""

from __future__ import annotations

from tasks.routing.citations import (
    Passage,
    acceptable,
    is_usable,
    parse_citations,
    split_answer,
    supported_answer,
)


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


def _keepers() -> list[Passage]:
    texts = [
        "The harbour master logged the tide. Tomas Reyne served as keeper from 1921 to 1939.",
        "The grain ships came in. Edith Marlowe served as keeper of the lighthouse from 1887 to 1902.",
    ]
    return [
        Passage(number=n, chunk_id=f"c{n}", doc_id=f"d{n}", source_path=f"/docs/{n}.txt", page=n, chunk_index=0,
                text=text)
        for n, text in enumerate(texts, start=1)
    ]  # fmt: skip


def test_the_answer_line_and_the_passages_line_are_split():
    text = "Answer: Edith Marlowe served from 1887 to 1902.\nPassages: [2]"
    assert split_answer(text) == ("Edith Marlowe served from 1887 to 1902.", [2])
    assert split_answer("She served from 1887 to 1902 [2][1].\nSources: 2, 3") == (
        "She served from 1887 to 1902 .",
        [2, 1, 3],
    )
    citations, invented = parse_citations(
        "Answer: 1887 to 1902\nPassages: 2, 7", _keepers(), "Which years did Edith Marlowe serve?"
    )
    assert [c.number for c in citations] == [2] and invented == [7]


def test_a_bare_number_or_nothing_is_not_an_answer():
    assert not is_usable("") and not is_usable("2") and not is_usable("1887–1902.")
    assert is_usable("From 1887 to 1902.") and is_usable("unanswerable")


def test_a_short_answer_without_citation_is_still_attributed():
    question = "Which years did Edith Marlowe serve as keeper?"
    (citation,) = parse_citations("1887 to 1902", _keepers(), question)[0]
    assert citation.inferred and citation.number == 2 and "Edith Marlowe" in citation.evidence[0]
    (single,) = parse_citations("1887", _keepers(), question)[0]
    assert single.number == 2
    assert parse_citations("1950", _keepers(), question)[0] == []  # in no passage: no citation


def test_an_answer_without_words_or_support_is_asked_again():
    question = "Which years did Edith Marlowe serve as keeper?"
    assert acceptable("Answer: From 1887 to 1902.\nPassages: [2]", _keepers(), question)
    assert acceptable("unanswerable", _keepers(), question)
    assert not acceptable("Answer: 2", _keepers(), question)
    assert not acceptable("From 1887 to 1939.", _keepers(), question)  # two passages' facts spliced


def test_a_supported_answer_keeps_its_words_and_citations():
    question = "Which years did Edith Marlowe serve as keeper?"
    answer, citations, invented = supported_answer(
        "Answer: She served from 1887 to 1902.\nPassages: [2][9]", _keepers(), question
    )
    assert answer == "She served from 1887 to 1902." and invented == [9]
    assert [c.number for c in citations] == [2] and not citations[0].inferred


def test_a_decline_or_an_unsupported_answer_means_the_documents_do_not_say():
    question = "Who kept the lighthouse before Edith Marlowe?"
    for reply in (
        "unanswerable",
        "Answer: The answer is unanswerable.\nPassages: [1]",
        "Answer: From 1887 to 1939.\nPassages: [1][2]",  # spliced from two passages
        "Answer: The harbour master's boat is painted red.\nPassages: [2]",  # in no passage
        "Answer: 2\nPassages: [2]",  # no words
        "Answer: Edith Marlowe\nPassages: [2]",  # the question given back
        "",
    ):
        assert supported_answer(reply, _keepers(), question) is None, reply
    assert supported_answer("Answer: unanswerable", [], question) is None
    years = "Which years did Edith Marlowe serve as keeper?"
    spliced = "Answer: Edith Marlowe served as keeper from 1887 to 1939.\nPassages: [2]"  # 1939: passage 1
    assert supported_answer(spliced, _keepers(), years) is None
    colour = "What colour is the harbour master's boat?"
    assert supported_answer("The harbour master's boat is red.", _keepers(), colour) is None  # invented
    flag = "What colour is the flag of Quindo?"  # a passage's words, about something else
    assert (
        supported_answer("The flag of Quindo is logged by the harbour master each tide.", _keepers(), flag)
        is None
    )


def test_a_cited_passage_that_does_not_hold_the_answer_gives_way_to_the_one_that_does():
    question = "Which years did Edith Marlowe serve as keeper?"
    _, citations, _ = supported_answer(
        "Answer: She served from 1887 to 1902.\nPassages: [1]", _keepers(), question
    )
    assert [(c.number, c.inferred) for c in citations] == [(2, True)]

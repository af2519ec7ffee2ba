"""LongBench v2: templates, substitution, truncation (beside LongBench's), answer extraction and accuracy,
against the official pred.py / result.py rules (expected values worked out by hand). No services, no network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.benchmarks import Example, LongBenchV2Record
from tasks.clients.tokens import truncate_middle
from tasks.evaluation import longbench_v2 as v2
from tasks.evaluation.datasets import load_jsonl

# sha256 (first 16 hex digits) of the official prompts/*.txt at THUDM/LongBench 2e00731.
OFFICIAL_TEMPLATE_SHA = {
    "0shot": "68a162252bc9ff71",
    "0shot_cot": "6cc33d92fd8f6116",
    "0shot_cot_ans": "85ec59df4ac0e27a",
    "0shot_no_context": "125fb44183af01ff",
    "rag": "5c50ce4fa24d297b",
}

RECORD = {
    "_id": "66f36490821e116aacb2cc22",
    "domain": "Single-Document QA",
    "sub_domain": "Financial",
    "difficulty": "easy",
    "length": "short",
    "question": "  Which year had the highest revenue?\n",
    "choice_A": " 2019 ",
    "choice_B": "2020",
    "choice_C": "2021",
    "choice_D": "2022\n",
    "answer": "C",
    "context": "\n  Revenue table: 2019 1.0, 2020 1.2, 2021 1.9, 2022 1.4.  \n",
}


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(OFFICIAL_TEMPLATE_SHA))
def test_templates_are_the_official_files(name: str) -> None:
    assert _sha(v2.TEMPLATES[name]) == OFFICIAL_TEMPLATE_SHA[name]


def test_0shot_prompt_substitutes_stripped_fields() -> None:
    assert v2.build_prompt(RECORD) == (
        "Please read the following text and answer the question below.\n\n<text>\n"
        "Revenue table: 2019 1.0, 2020 1.2, 2021 1.9, 2022 1.4.\n</text>\n\n"
        "What is the correct answer to this question: Which year had the highest revenue?\nChoices:\n"
        "(A) 2019\n(B) 2020\n(C) 2021\n(D) 2022\n\n"
        'Format your response as follows: "The correct answer is (insert answer here)".'
    )


def test_substitution_follows_the_official_replace_order() -> None:
    tricky = dict(RECORD, context="quotes $Q$ and $C_D$", question="asks about $DOC$", choice_A="see $C_B$")
    prompt = v2.build_prompt(tricky, "0shot_no_context")
    # $DOC$ went first (the question's "$DOC$" stays literal); $C_A$ before $C_B$ (choice A's "$C_B$" is filled).
    assert "question: asks about $DOC$\n" in prompt
    assert "(A) see 2020\n(B) 2020\n" in prompt
    lc = v2.build_prompt(tricky, "0shot")
    assert "<text>\nquotes asks about $DOC$ and 2022\n</text>" in lc


def test_record_example_and_mapping_give_the_same_prompt() -> None:
    record = LongBenchV2Record.model_validate(RECORD)
    example = record.to_example()
    for template in ("0shot", "0shot_cot", "0shot_no_context", "rag"):
        expected = v2.build_prompt(RECORD, template)
        assert v2.build_prompt(record, template) == expected
        assert v2.build_prompt(example, template) == expected


def test_cot_answer_step() -> None:
    with pytest.raises(ValueError, match="first step"):
        v2.build_prompt(RECORD, "0shot_cot_ans")
    prompt = v2.build_prompt(RECORD, "0shot_cot_ans", cot="  Revenue peaks in 2021, and $Q$ is literal.\n")
    assert "The text is too long and omitted here." in prompt
    assert "Revenue table" not in prompt
    assert prompt.endswith(
        "Let\u2019s think step by step: Revenue peaks in 2021, and $Q$ is literal.\n\n"
        "Based on the above, what is the single, most likely answer choice? "
        'Format your response as follows: "The correct answer is (insert answer here)".'
    )
    first = v2.build_prompt(RECORD, "0shot_cot")
    assert first.endswith("(D) 2022\n\nLet\u2019s think step by step:")


def test_no_context_ignores_the_document() -> None:
    prompt = v2.build_prompt(RECORD, "0shot_no_context", context="ignored")
    assert prompt.startswith("What is the correct answer to this question: Which year")
    assert "ignored" not in prompt and "Revenue" not in prompt


def test_unknown_template_and_bad_items() -> None:
    with pytest.raises(ValueError, match="unknown LongBench v2 template"):
        v2.build_prompt(RECORD, "5shot")
    with pytest.raises(ValueError, match="choice_C"):
        v2.build_prompt({k: v for k, v in RECORD.items() if k != "choice_C"})
    plain = Example(_id="q", dataset="hotpotqa", input="q", context="c", answers=["a"])
    with pytest.raises(ValueError, match="4 options"):
        v2.build_prompt(plain)


def test_rag_context_takes_top_k_then_document_order() -> None:
    retrieved = [  # retrieval order, as pred.py's item["retrieved_context"]
        {"c_idx": 7, "content": "seven"},
        {"c_idx": 2, "content": "two"},
        {"c_idx": 9, "content": "nine"},
        {"c_idx": 0, "content": "zero"},
    ]
    assert (
        v2.rag_context(retrieved, k=3)
        == "Retrieved chunk 1: two\n\nRetrieved chunk 2: seven\n\nRetrieved chunk 3: nine"
    )
    assert v2.rag_context([(3, "b"), (1, "a")]) == "Retrieved chunk 1: a\n\nRetrieved chunk 2: b"

    class Chunk:
        def __init__(self, chunk_index: int, text: str) -> None:
            self.chunk_index, self.text = chunk_index, text

    assert v2.rag_context([Chunk(5, "x"), Chunk(4, "y")]) == "Retrieved chunk 1: y\n\nRetrieved chunk 2: x"


def test_method_prompts() -> None:
    chunks = [(4, "2021 revenue 1.9"), (1, "2019 revenue 1.0")]
    assert v2.method_prompt(RECORD, "lc") == v2.build_prompt(RECORD, "0shot")
    rag = v2.method_prompt(RECORD, "rag", chunks=chunks)
    assert rag == v2.build_prompt(
        RECORD, "rag", context="Retrieved chunk 1: 2019 revenue 1.0\n\nRetrieved chunk 2: 2021 revenue 1.9"
    )
    routed = v2.method_prompt(RECORD, "self_route", chunks=chunks)
    assert routed.count(v2.UNANSWERABLE_OPTION) == 2
    # Without the clause, the Self-Route step is the official RAG prompt.
    assert routed.replace(" " + v2.UNANSWERABLE_OPTION, "").replace(v2.UNANSWERABLE_OPTION + " ", "") == rag
    with pytest.raises(ValueError, match="unknown method"):
        v2.method_prompt(RECORD, "oracle")


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("The correct answer is (B)", "B"),
        ("The correct answer is B.", "B"),
        ("**The correct answer is (C)**", "C"),  # every * goes first
        ("The **correct** answer is *(A)*", "A"),
        ("The correct answer is Both", "B"),  # the bare pattern reads a leading capital A-D
        # The bracketed form is tried first, wherever it is.
        ("The correct answer is C, or rather The correct answer is (D)", "D"),
        ("The correct answer is (E)", None),
        ("The correct answer is (b)", None),  # lower case never counts
        ("the correct answer is (A)", None),
        ("The correct answer is: A", None),
        ("The answer is (A)", None),
        ("(A)", None),
        ("A", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_answer_shapes(response: str | None, letter: str | None) -> None:
    assert v2.extract_answer(response) == letter


class CharTokenizer:
    """One token per character; counts its decode calls."""

    def __init__(self) -> None:
        self.decodes = 0

    def encode(self, text: str) -> list[int]:
        return [ord(ch) for ch in text]

    def decode(self, tokens: list[int]) -> str:
        self.decodes += 1
        return "".join(chr(token) for token in tokens)


@pytest.mark.parametrize(
    ("rule", "max_len", "expected", "decodes"),
    [
        ("longbench_v2", 10, "abcdefghij", 0),  # fits: unchanged, not re-decoded
        ("longbench_v2", 20, "abcdefghij", 0),
        ("longbench_v2", 8, "abcdghij", 1),  # 4 + 4, one decode of the joined ids, as pred.py
        ("longbench_v2", 7, "abcghij", 1),  # 7 // 2 = 3 first, -7 // 2 = -4: the last 4
        ("longbench_v2", 1, "j", 1),  # 0 first, the last 1
        ("longbench", 8, "abcdghij", 2),  # LongBench's pred.py: int(8/2) = 4 each, decoded apart
        ("longbench", 7, "abchij", 2),  # int(7/2) = 3 each: one token short of the budget
    ],
)
def test_truncate_middle_keeps_each_benchmarks_halves(
    rule: str, max_len: int, expected: str, decodes: int
) -> None:
    tokenizer = CharTokenizer()
    assert truncate_middle("abcdefghij", max_len, tokenizer.encode, tokenizer.decode, rule) == expected
    assert tokenizer.decodes == decodes


@pytest.mark.parametrize("rule", ["longbench", "longbench_v2"])
def test_truncate_middle_rejects_a_budget_below_one(rule: str) -> None:
    tokenizer = CharTokenizer()
    with pytest.raises(ValueError, match="at least 1"):
        truncate_middle("abc", 0, tokenizer.encode, tokenizer.decode, rule)


def _result(difficulty: str, length: str, response: str, answer: str) -> dict:
    """An official pred.py output line."""
    pred = v2.extract_answer(response)
    return {"_id": f"{difficulty}-{length}-{response[-3:]}", "difficulty": difficulty, "length": length,
            "response": response, "pred": pred, "answer": answer, "judge": pred == answer}  # fmt: skip


# Seven results: correct ones marked *.
#   easy/short *   easy/medium     easy/long *   hard/short     hard/short *   hard/medium *   hard/long (no letter)
RESULTS = [
    _result("easy", "short", "The correct answer is (A)", "A"),
    _result("easy", "medium", "The correct answer is (B)", "C"),
    _result("easy", "long", "The correct answer is D", "D"),
    _result("hard", "short", "The correct answer is (A)", "B"),
    _result("hard", "short", "The correct answer is (C)", "C"),
    _result("hard", "medium", "**The correct answer is (B)**", "B"),
    _result("hard", "long", "I cannot tell.", "A"),
]


def test_accuracy_as_result_py() -> None:
    # overall 4/7 = 57.142… → 57.1; easy 2/3 → 66.7; hard 2/4 → 50.0; short 2/3 → 66.7; medium 1/2 → 50.0;
    # long 1/2 → 50.0.
    assert v2.accuracy(RESULTS) == {
        "n": 7, "overall": 57.1, "easy": 66.7, "hard": 50.0, "short": 66.7, "medium": 50.0, "long": 50.0,
    }  # fmt: skip


def test_accuracy_compensated() -> None:
    # The unreadable hard/long answer counts 0.25: overall 4.25/7 = 60.71… → 60.7; hard 2.25/4 = 56.25 → 56.2
    # (round half to even on the float 56.25); long 1.25/2 = 62.5 → 62.5.
    result = v2.accuracy(RESULTS, compensated=True)
    assert (result["overall"], result["hard"], result["long"], result["easy"]) == (60.7, 56.2, 62.5, 66.7)


def test_accuracy_reads_ragroute_records_and_odd_groups() -> None:
    # ragroute's prediction records: `pred` is the raw output, `answers` the gold; no judge.
    records = [
        {
            "pred": "The correct answer is (A)",
            "answers": ["A"],
            "difficulty": "easy",
            "length_class": "short",
        },
        {"pred": "A", "answers": ["A"], "difficulty": "Easy", "length": "tiny"},  # "A" alone is no answer
    ]
    # The second is wrong, and counts as hard and long (anything not "easy" / not short or medium).
    assert v2.accuracy(records) == {
        "n": 2, "overall": 50.0, "easy": 100.0, "hard": 0.0, "short": 100.0, "medium": None, "long": 0.0,
    }  # fmt: skip
    assert v2.accuracy([])["overall"] is None
    # An official line that kept its judge and letter but not its response.
    assert v2.record_accuracy({"pred": None, "judge": False, "answer": "A"}, compensated=True) == 0.25
    assert v2.record_accuracy({"pred": "A", "judge": True, "answer": "A"}, compensated=True) == 1


def test_v2_record_contract() -> None:
    example = LongBenchV2Record.model_validate(RECORD).to_example()
    assert example.id == RECORD["_id"]
    assert example.dataset == "longbench_v2"
    assert example.input == RECORD["question"]
    assert example.answers == ["C"]
    assert example.options == [" 2019 ", "2020", "2021", "2022\n"]
    assert (example.difficulty, example.length_class, example.length) == ("easy", "short", None)
    assert (example.domain, example.sub_domain) == ("Single-Document QA", "Financial")
    for field, bad in (("answer", "E"), ("difficulty", "medium"), ("length", 12000)):
        with pytest.raises(ValidationError):
            LongBenchV2Record.model_validate(dict(RECORD, **{field: bad}))
    # The existing Example API is unchanged: LongBench v1's integer length still loads.
    old = Example.model_validate(
        {"_id": "1", "dataset": "qasper", "input": "q", "context": "c", "answers": ["a"], "length": 3500}
    )
    assert old.length == 3500 and old.difficulty is None and old.length_class is None


def test_loader_reads_v2_jsonl_and_data_json(tmp_path: Path) -> None:
    second = dict(RECORD, _id="second", difficulty="hard", length="long", answer="A")
    bad = dict(RECORD, _id="bad", answer="Z")
    lines = tmp_path / "longbench_v2.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in (RECORD, second, bad)) + "\n", encoding="utf-8")
    loaded = load_jsonl(lines)
    assert [e.id for e in loaded.examples] == [RECORD["_id"], "second"]
    assert {e.dataset for e in loaded.examples} == {"longbench_v2"}
    assert loaded.examples[1].difficulty == "hard" and loaded.examples[1].length_class == "long"
    assert len(loaded.problems) == 1 and loaded.problems[0].path.endswith(":3")
    assert "ValidationError" in loaded.problems[0].reason

    array = tmp_path / "data.json"  # the official file: one JSON array
    array.write_text(json.dumps([RECORD, second, bad, "not an object"], indent=1), encoding="utf-8")
    loaded = load_jsonl(array)
    assert [e.id for e in loaded.examples] == [RECORD["_id"], "second"]
    assert [p.path.rsplit("data.json", 1)[1] for p in loaded.problems] == ["[2]", "[3]"]
    prompt = v2.build_prompt(loaded.examples[0])
    assert prompt == v2.build_prompt(RECORD)


def test_loader_reads_a_broken_array_line_by_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text("[1, 2]\n" + json.dumps(RECORD) + "\n", encoding="utf-8")  # not one JSON document
    loaded = load_jsonl(broken)
    assert [e.id for e in loaded.examples] == [RECORD["_id"]]
    assert [p.path.rsplit(":", 1)[1] for p in loaded.problems] == ["1"]

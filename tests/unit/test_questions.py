"""Generated question sets without services: reading the model's replies, every pure validation rule on crafted
bad candidates, picking sources, following a collection's documents, and the records an import refuses."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from schemas.questions import Candidate, SourceChunk, from_sources
from schemas.settings import PROJECT_ROOT
from tasks.clients.llm import Completion
from tasks.questions import generate, prompts, validate
from tasks.questions.follow import GenerationSummary, plan_follow
from tasks.questions.review import BadRecord, _parse
from tasks.routing.citations import Passage
from warehouse.questions import DocumentState

CHUNK = (
    "The Velmora harbour opened in 1887. Edith Marlowe served as keeper of the Velmora lighthouse from 1887 to "
    "1902. The lamp burned whale oil until 1895."
)
OTHER = "The ferry to Quindo leaves at dawn. Its captain, Edith Marlowe, once kept the Velmora lighthouse."


def _chunk(chunk_id: str, doc_id: str, text: str = CHUNK, index: int = 0) -> SourceChunk:
    return SourceChunk(chunk_id=chunk_id, doc_id=doc_id, source_path=f"/d/{doc_id}.txt", chunk_index=index,
                       text=text, content_hash=f"h-{chunk_id}", doc_sha256=f"sha-{doc_id}")  # fmt: skip


def _candidate(kind: str = "answerable", **fields) -> Candidate:
    chunks = [_chunk("c1", "a")] + ([_chunk("c2", "b", OTHER)] if kind == "multi_hop" else [])
    candidate = from_sources("C_all_MiniLM_L6_v2", kind, chunks, "m", prompts.PROMPT_VERSION)
    defaults = {"question": "Who kept the lighthouse from 1887 to 1902?", "answer": "Edith Marlowe",
                "evidence": ["Edith Marlowe served as keeper of the Velmora lighthouse from 1887 to 1902."]}  # fmt: skip
    return candidate.model_copy(update=defaults | fields)


# --- Reading replies --------------------------------------------------------------------------------------


def test_failed_or_unreadable_generation_rejects_the_candidate():
    failed = generate.fill(generate.Draft(_candidate(question="")), Completion(text=None, error="APITimeoutError: slow"))
    assert (failed.outcome, failed.rule) == ("rejected", "generation") and "slow" in failed.reason
    unreadable = generate.fill(generate.Draft(_candidate(question="")), Completion(text="I cannot do that."))
    assert (unreadable.outcome, unreadable.rule) == ("rejected", "parse")
    labelled = generate.fill(generate.Draft(_candidate(question="")), Completion(text='Sure.\n**Question:** "Who kept it?"'))
    assert (labelled.outcome, labelled.question) == ("pending", "Who kept it?")


@pytest.mark.parametrize(
    "reply, question",
    [("Question: Who kept it?", "Who kept it?"), ("1. Q: Who kept it?\nAnswer: Edith", "Who kept it?"),
     ('"Who kept it?"', "Who kept it?"), ("Here is one:\n\nWho kept it?", "Who kept it?")],
)  # fmt: skip
def test_one_line_question_is_read_in_its_usual_shapes(reply, question):
    assert prompts.parse_question(reply) == (question, None)
    assert prompts.parse_question("")[1] == "empty reply"


# --- Picking facts in code -------------------------------------------------------------------------------


def test_facts_are_sentences_with_a_name_number_or_date_numbers_first():
    found = generate.facts(CHUNK)
    assert found and found[0].score == 3 and found[0].span in found[0].sentence
    assert found[0].sentence in validate.sentences(CHUNK)
    assert generate.facts("no names or numbers are written in this plain sentence at all.") == []


def test_answerable_draft_picks_evidence_and_answer_in_code():
    drafted = generate.draft(_candidate(question="", answer="", evidence=[]), [_chunk("c1", "a")])
    candidate = drafted.candidate
    assert candidate.outcome == "pending" and candidate.answer in candidate.evidence[0]
    assert candidate.answer in drafted.prompt and drafted.fallback is None
    filled = generate.fill(drafted, Completion(text="When did the Velmora harbour open?"))
    assert validate.check_alone(filled, {"c1": CHUNK}).outcome == "pending", filled.reason


def test_multi_hop_draft_bridges_two_documents_and_falls_back_to_an_echo_question():
    drafted = generate.draft(_candidate("multi_hop", question="", answer="", evidence=[]),
                             [_chunk("c1", "a"), _chunk("c2", "b", OTHER)])  # fmt: skip
    candidate = drafted.candidate
    assert candidate.outcome == "pending" and len(candidate.evidence) == 2, candidate.reason
    assert candidate.answer in candidate.evidence[1] and candidate.answer not in candidate.evidence[0]
    own_answer = generate.fill(drafted, Completion(text=f"Is it {candidate.answer}?"))
    assert own_answer.question == drafted.fallback and "___" in own_answer.question
    checked = validate.check_alone(own_answer, {"c1": CHUNK, "c2": OTHER})
    assert checked.outcome == "pending", checked.reason


def test_multi_hop_question_blanks_the_shared_name_in_both_facts():
    first, second = "Captain Relbar commands the ship Nimquin.", "The ship Nimquin was built by Tasvin Olpra."
    drafted = generate.draft(_candidate("multi_hop", question="", answer="", evidence=[]),
                             [_chunk("c1", "a", first), _chunk("c2", "b", second)])  # fmt: skip
    assert drafted.shared == "Nimquin" and drafted.candidate.answer == "Tasvin Olpra"
    assert "The ship Nimquin was built by" in drafted.prompt  # the model asks about the second fact alone
    filled = generate.fill(drafted, Completion(text="Who built the ship Nimquin?"))
    assert filled.question == "Captain Relbar commands the ship ___. Who built the ship ___?"
    assert validate.check_alone(filled, {"c1": first, "c2": second}).outcome == "pending", filled.reason
    unnamed = generate.fill(drafted, Completion(text="Who built the boat?"))  # the shared name is not in it
    assert unnamed.question == drafted.fallback == "Captain Relbar commands the ship ___. The ship ___ was built by who?"


def test_unanswerable_draft_asks_for_an_attribute_the_chunk_lacks_without_a_call():
    drafted = generate.draft(_candidate("unanswerable", question="", answer=""), [_chunk("c1", "a")])
    assert drafted.prompt is None and drafted.candidate.answer == "unanswerable"
    assert any(name in drafted.candidate.question for name in ("Edith Marlowe", "Velmora"))
    nothing = generate.draft(_candidate("unanswerable"), [_chunk("c1", "a", "the grain silo stores wheat.")])
    assert (nothing.candidate.rule, nothing.prompt) == ("generation", None)


# --- Rules on the candidate alone ----------------------------------------------------------------------


def test_a_good_candidate_passes_every_rule_alone():
    checked = validate.check_alone(_candidate(), {"c1": CHUNK})
    assert checked.outcome == "pending" and checked.rule is None


@pytest.mark.parametrize(
    ("fields", "rule", "reason"),
    [
        ({"question": "Who?"}, "well_formed", "the question has 1 words"),
        ({"answer": " ".join(["word"] * 21)}, "well_formed", "the answer has 21 words"),
        ({"evidence": ["Edith Marlowe painted the lighthouse red."]}, "evidence_in_chunk", "does not occur in its chunk c1"),
        ({"evidence": ["1887."]}, "evidence_in_chunk", "too short"),
        ({"evidence": []}, "evidence_in_chunk", "0 evidence quote(s) for 1 source chunk(s)"),
        ({"answer": "Thomas Reed"}, "answer_in_evidence", "'Thomas Reed' does not occur in the evidence"),
        ({"question": "Did Edith Marlowe keep the lighthouse?"}, "answer_not_in_question", "gives its own answer"),
    ],
)  # fmt: skip
def test_each_rule_rejects_its_bad_candidate_with_a_reason(fields, rule, reason):
    checked = validate.check_alone(_candidate(**fields), {"c1": CHUNK})
    assert (checked.outcome, checked.rule) == ("rejected", rule)
    assert reason in checked.reason


def test_an_answer_in_a_possessive_is_in_the_question():
    candidate = _candidate(question="What is the name of Edith Marlowe's ship?")
    assert "gives its own answer" in validate.answer_not_in_question(candidate)


def test_evidence_is_compared_without_case_whitespace_or_punctuation():
    quote = "edith marlowe served as keeper of the VELMORA lighthouse,   from 1887 to 1902"
    assert validate.evidence_in_chunk(_candidate(evidence=[quote]), [CHUNK]) is None


def test_multi_hop_evidence_is_checked_against_each_chunk():
    good = ["Edith Marlowe served as keeper of the Velmora lighthouse", "The ferry to Quindo leaves at dawn."]
    candidate = _candidate("multi_hop", evidence=good, answer="Velmora lighthouse")
    assert validate.evidence_in_chunk(candidate, [CHUNK, OTHER]) is None
    swapped = _candidate("multi_hop", evidence=good[::-1])  # B's quote first: still one from each chunk
    assert validate.evidence_in_chunk(swapped, [CHUNK, OTHER]) is None
    one_chunk = _candidate("multi_hop", evidence=[good[0], "The lamp burned whale oil until 1895."])
    assert "evidence 2 does not occur in its chunk c2" in validate.evidence_in_chunk(
        one_chunk, [CHUNK, OTHER]
    )


def test_unanswerable_answer_must_be_the_word():
    bad = _candidate("unanswerable", question="What colour was the lamp?", answer="red", evidence=[])
    assert "must be 'unanswerable'" in validate.well_formed(bad)
    good = bad.model_copy(update={"answer": "unanswerable"})
    assert validate.check_alone(good, {"c1": CHUNK}).outcome == "pending"


def test_near_duplicates_are_dropped_against_kept_and_earlier_questions():
    a, b, c = (_candidate(question=f"Question number {n} here?") for n in (1, 2, 3))
    b.question_id, c.question_id = "q-b", "q-c"
    vectors = [[1.0, 0.0], [0.95, 0.312], [0.0, 1.0]]  # b is 0.95 of a; c is apart
    assert validate.near_duplicates([a, b, c], vectors) == {
        "q-b": f"near-duplicate of {a.question_id} (cosine 0.95 >= 0.9)"
    }
    found = validate.near_duplicates([c], [[0.0, 1.0]], kept=[("q-old", [0.1, 0.995])])
    assert found["q-c"].startswith("near-duplicate of q-old")  # fmt: skip


# --- Rules on the model's answers ----------------------------------------------------------------------


def test_answer_from_the_gold_chunk_must_match():
    candidate = _candidate()
    assert validate.answered_from_gold(candidate, Completion(text="Answer: Edith Marlowe.\nMore.")) is None
    reason = validate.answered_from_gold(candidate, Completion(text="The harbour master"))
    assert "token F1 0.00 < 0.5" in reason
    assert "check failed" in validate.answered_from_gold(candidate, Completion(text=None, error="500"))


def _passage(text: str) -> Passage:
    return Passage(
        number=1, chunk_id="c9", doc_id="a", source_path="/d/a.txt", page=1, chunk_index=0, text=text
    )


def test_supporting_sentence_needs_most_content_words():
    assert validate.content_words("What year did the Velmora lighthouse get a new lens?") == {
        "year", "velmora", "lighthouse", "get", "new", "lens"}  # fmt: skip
    question = "Which oil did the lamp burn until 1895?"
    assert "c9 may answer it" in validate.supporting_sentence(question, [_passage(CHUNK)])
    assert validate.supporting_sentence("What colour was the Velmora ferry?", [_passage(CHUNK)]) is None
    assert "too vague" in validate.supporting_sentence("What is it?", [_passage(CHUNK)])


def test_long_context_must_decline():
    assert validate.declined_by_long_context(Completion(text="Unanswerable.")) is None
    assert "answered over the full documents: 'Red'" in validate.declined_by_long_context(
        Completion(text="Red")
    )
    assert "check failed" in validate.declined_by_long_context(Completion(text=None, error="timeout"))


# --- Picking sources ------------------------------------------------------------------------------------


def test_sources_are_spread_over_a_document():
    chunks = [_chunk(f"c{i}", "a", f"word {i} " * 30, i) for i in range(6)]
    assert generate.spread(list(range(6)), 2) == [1, 4]
    assert generate.spread([1, 2], 5) == [1, 2]
    slots = generate.plan_single(chunks + [_chunk("tiny", "a", "A heading", 6)], 1)
    assert [(kind, [c.chunk_id for c in sources]) for kind, sources in slots] == [
        ("answerable", ["c3"]),
        ("unanswerable", ["c2"]),
    ]


def test_multi_hop_pairs_share_a_name_or_topic():
    assert generate.shared_topic(CHUNK, OTHER) == ["Edith", "Marlowe", "Velmora"]
    assert generate.shared_topic("the grain silo stores wheat", "the rain fell on tuesday") == []


def test_question_ids_follow_sources_and_document_versions():
    one = from_sources("C", "answerable", [_chunk("c1", "a")], "m", "q1")
    assert one.question_id == from_sources("C", "answerable", [_chunk("c1", "a")], "m", "q1").question_id
    changed = _chunk("c1", "a").model_copy(update={"doc_sha256": "sha-new"})
    assert one.question_id != from_sources("C", "answerable", [changed], "m", "q1").question_id
    assert one.sources == {"a": "sha-a"} and one.chunk_hashes == ["h-c1"]


# --- Following the collection ---------------------------------------------------------------------------


def _doc(doc_id: str, sha: str | None = None, status: str = "indexed") -> DocumentState:
    return DocumentState(doc_id, f"/d/{doc_id}.txt", sha or f"sha-{doc_id}", status)


def test_follow_retires_changed_and_deleted_and_generates_for_uncovered_documents():
    on_a, on_b = _candidate(), _candidate("multi_hop")  # on_b comes from documents a and b
    on_a.question_id, on_b.question_id = "q-a", "q-ab"
    unchanged = plan_follow({"a": _doc("a"), "b": _doc("b")}, [on_a, on_b])
    assert unchanged.retire == [] and unchanged.targets == []
    changed = plan_follow({"a": _doc("a"), "b": _doc("b", "sha-new"), "c": _doc("c")}, [on_a, on_b])
    assert changed.retire == [("q-ab", "document changed: /d/b.txt")] and changed.targets == ["b", "c"]
    deleted = plan_follow({"b": _doc("b")}, [on_a, on_b])
    assert [reason for _, reason in deleted.retire] == ["document deleted: a", "document deleted: a"]
    assert deleted.targets == ["b"]


def test_follow_keeps_reviewed_questions_unless_their_document_is_deleted():
    reviewed = _candidate().model_copy(update={"question_id": "q-r", "reviewed": True})
    assert plan_follow({"a": _doc("a", "sha-new")}, [reviewed]).retire == []
    assert plan_follow({"a": _doc("a", "sha-new")}, [reviewed]).targets == []
    assert plan_follow({"a": _doc("a", status="quarantined")}, [reviewed]).retire == [
        ("q-r", "document deleted: /d/a.txt")
    ]


def test_regenerating_retires_every_question_not_reviewed():
    generated = _candidate().model_copy(update={"question_id": "q-a"})
    reviewed = _candidate().model_copy(update={"question_id": "q-r", "reviewed": True, "doc_ids": ["b"]})
    documents = {"a": _doc("a", "sha-a"), "b": _doc("b", "sha-b")}
    assert plan_follow(documents, [generated, reviewed]).retire == []  # unchanged: nothing to do
    plan = plan_follow(documents, [generated, reviewed], regenerate=True)
    assert (plan.retire, plan.targets) == ([("q-a", "regenerated on request")], ["a"])


def test_follow_leaves_documents_in_flux_alone():
    question = _candidate().model_copy(update={"question_id": "q-a"})
    plan = plan_follow({"a": _doc("a", "sha-old", "error"), "b": _doc("b", status="pending")}, [question])
    assert plan.retire == [] and plan.targets == []


def test_summary_lines_count_kinds_rules_and_cost():
    summary = GenerationSummary(run_id="r", collection="C", model="m", documents=2,
                                candidates={"answerable": 2, "multi_hop": 1, "unanswerable": 2},
                                kept={"answerable": 1, "multi_hop": 0, "unanswerable": 0},
                                rejections={"parse": 3, "answered_from_gold": 1}, llm_calls=7, llm_requests=7,
                                prompt_tokens=900, completion_tokens=80, list_cost_usd=0.001, spent_cost_usd=0.0005)  # fmt: skip
    text = "\n".join(summary.lines())
    assert "answerable 1/2, multi_hop 0/1, unanswerable 0/2" in text
    assert "answered_from_gold 1, parse 3" in text and "list $0.0010, spent $0.0005" in text


# --- Importing reviewed questions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "a record must be a JSON object, not a JSON list"),
        ('{"id": "x", "question": "Why?"}', "answers: Field required"),
        ('{"id": "x", "question": "Why?", "answers": []}', "no answer"),
        ('{"id": "x", "question": " ", "answers": ["a"]}', "the question is empty"),
        ('{"id": "x", "question": "Why?", "answers": ["a"], "kind": "tricky"}', "unknown kind 'tricky'"),
    ],
)
def test_bad_import_lines_say_why(line, reason):
    with pytest.raises(BadRecord, match=reason.replace("[", r"\[").replace("(", r"\(")):
        _parse(line)


def test_import_line_defaults_id_and_kind():
    _, question = _parse(json.dumps({"question": "What is the depth?", "answers": ["unanswerable"]}))
    assert question.kind == "unanswerable" and question.id.startswith("imported-")


# --- The deployment ------------------------------------------------------------------------------------


def test_questions_deployment_runs_the_flow_on_the_gpu_pool():
    deployments = {
        d["name"]: d for d in yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]
    }
    questions = deployments["questions"]
    assert questions["work_pool"]["name"] == "gpu"
    path, function = questions["entrypoint"].split(":")
    tree = ast.parse(Path(PROJECT_ROOT / path).read_text())
    flow = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    assert [a.arg for a in flow.args.args][:3] == ["collection", "per_document", "model"]  # fmt: skip


def test_a_written_question_is_one_per_collection():
    line = json.dumps({"question": "What is the depth?", "answers": ["unanswerable"]})
    in_a, in_b = _parse(line, "A_all_MiniLM_L6_v2")[1], _parse(line, "B_all_MiniLM_L6_v2")[1]
    assert in_a.id != in_b.id and in_a.id == _parse(line, "A_all_MiniLM_L6_v2")[1].id
    named = json.dumps({"question": "What is the depth?", "answers": ["unanswerable"], "collection": "A_all_MiniLM_L6_v2"})
    assert _parse(named)[1].id == in_a.id  # the line's own collection, as exported


def test_import_line_kind_and_answer_agree():
    with pytest.raises(BadRecord, match="unanswerable"):
        _parse(json.dumps({"id": "x", "question": "What is it?", "answers": ["red"], "kind": "unanswerable"}))
    with pytest.raises(BadRecord, match="unanswerable"):
        _parse(
            json.dumps(
                {"id": "x", "question": "What is it?", "answers": ["unanswerable"], "kind": "answerable"}
            )
        )

"""The judge of answers without a gold answer: its prompt holds the evidence, never a whole context, and its
reply is read as one verdict."""

import asyncio

from tasks.evaluation.judge import judge, judge_prompt, read_verdict


def test_the_prompt_holds_question_evidence_and_answer():
    prompt = judge_prompt("Who kept the lamp?", ["Edith Marlowe kept the lamp."], "Edith Marlowe.")
    assert "Question: Who kept the lamp?" in prompt and "- Edith Marlowe kept the lamp." in prompt
    assert prompt.rstrip().endswith("Reply with one word: supported or unsupported.")


def test_the_reply_is_read_as_its_first_verdict():
    assert read_verdict("Supported.") == "supported"
    assert read_verdict("unsupported: the evidence names someone else") == "unsupported"
    assert read_verdict("It is not supported") == "unsupported"
    assert read_verdict("yes") is None and read_verdict(None) is None


def test_declines_and_answers_citing_nothing_cost_no_call():
    never = None  # no client: a call would fail
    declined = asyncio.run(judge(never, {}, "q", "The documents do not say.", [], declined=True))
    uncited = asyncio.run(judge(never, {}, "q", "Edith Marlowe.", [], declined=False))
    assert (declined.verdict, declined.prompt_tokens) == ("declined", 0)
    assert (uncited.verdict, uncited.prompt_tokens) == ("unsupported", 0)

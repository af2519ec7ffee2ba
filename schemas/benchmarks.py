"""Benchmark data contracts: examples, the per-dataset prompts and generation lengths.

Prompts and max new tokens follow LongBench v1's `dataset2prompt.json` / `dataset2maxlen.json` (typos
included) and ∞Bench's templates. Self-Route's first step adds the paper's clause (arXiv 2407.16833, App. C).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

UNANSWERABLE_CLAUSE = (
    "If the question cannot be answered based on the information in the article, write “unanswerable”."
)


class Example(BaseModel):
    """One benchmark question over one long context (LongBench's fields, ∞Bench's mapped onto them)."""

    id: str = Field(alias="_id")
    dataset: str
    input: str
    context: str
    answers: list[str]
    all_classes: list[str] | None = None
    options: list[str] | None = None
    length: int | None = None
    language: str = "en"
    # Sentences of the context that hold the answer, where known (the mini benchmark plants them).
    evidence: list[str] = Field(default_factory=list)
    kind: str | None = None  # mini benchmark: answerable | multi_hop | unanswerable
    # LongBench v2 only: its categories (`length` there is a class, short | medium | long, not a word count).
    domain: str | None = None
    sub_domain: str | None = None
    difficulty: str | None = None  # easy | hard
    length_class: str | None = None  # short | medium | long

    model_config = {"populate_by_name": True}


V2_LETTERS = ("A", "B", "C", "D")


class LongBenchV2Record(BaseModel):
    """One LongBench v2 question in the official field names (THUDM/LongBench-v2 `data.json`)."""

    id: str = Field(alias="_id")
    domain: str
    sub_domain: str
    difficulty: Literal["easy", "hard"]
    length: Literal["short", "medium", "long"]
    question: str
    choice_A: str
    choice_B: str
    choice_C: str
    choice_D: str
    answer: Literal["A", "B", "C", "D"]
    context: str

    model_config = {"populate_by_name": True}

    @property
    def choices(self) -> list[str]:
        return [self.choice_A, self.choice_B, self.choice_C, self.choice_D]

    def to_example(self) -> Example:
        """The record as an `Example` of dataset `longbench_v2`: the question as `input`, the four choices as
        `options`, the gold letter as the only answer, the length class in `length_class`."""
        return Example(
            _id=self.id,
            dataset="longbench_v2",
            input=self.question,
            context=self.context,
            answers=[self.answer],
            options=self.choices,
            domain=self.domain,
            sub_domain=self.sub_domain,
            difficulty=self.difficulty,
            length_class=self.length,
        )


class CorpusQuestion(BaseModel):
    """A question over an ingested collection (a corpus QA set line)."""

    id: str
    question: str
    answers: list[str]
    gold_doc_ids: list[str] = Field(default_factory=list)
    # A generated set's fields (`ragroute questions export`), for a person to review; ignored by evaluation.
    kind: str | None = None  # answerable | multi_hop | unanswerable
    evidence: list[str] = Field(default_factory=list)
    collection: str | None = None
    reviewed: bool | None = None


_MULTI_DOC = (
    "Answer the question based on the given passages. Only give me the answer and do not output any other "
    "words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. "
    "Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:"
)

LONG_BENCH_PROMPTS: dict[str, str] = {
    "narrativeqa": (
        "You are given a story, which can be either a novel or a movie script, and a question. Answer the "
        "question asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\n"
        "Story: {context}\n\nNow, answer the question based on the story asconcisely as you can, using a single "
        "phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:"
    ),
    "qasper": (
        "You are given a scientific article and a question. Answer the question as concisely as you can, using "
        "a single phrase or sentence if possible. If the question cannot be answered based on the information in "
        'the article, write "unanswerable". If the question is a yes/no question, answer "yes", "no", or '
        '"unanswerable". Do not provide any explanation.\n\nArticle: {context}\n\n Answer the question based on '
        "the above article as concisely as you can, using a single phrase or sentence if possible. If the "
        'question cannot be answered based on the information in the article, write "unanswerable". If the '
        'question is a yes/no question, answer "yes", "no", or "unanswerable". Do not provide any explanation.'
        "\n\nQuestion: {input}\n\nAnswer:"
    ),
    "multifieldqa_en": (
        "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based "
        "on the above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\n"
        "Answer:"
    ),
    "hotpotqa": _MULTI_DOC,
    "2wikimqa": _MULTI_DOC,
    "musique": _MULTI_DOC,
    "qmsum": (
        "You are given a meeting transcript and a query containing a question or instruction. Answer the query "
        "in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting "
        "transcript in one or more sentences.\n\nQuery: {input}\nAnswer:"
    ),
    "gov_report": (
        "You are given a report by a government agency. Write a one-page summary of the report.\n\nReport:\n"
        "{context}\n\nNow, write a one-page summary of the report.\n\nSummary:"
    ),
    "multi_news": (
        "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\n"
        "Now, write a one-page summary of all the news.\n\nSummary:"
    ),
    # Few-shot tasks: the examples are in the context, the question (or dialogue) to answer is the input.
    "trec": (
        "Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n"
        "{input}"
    ),
    "triviaqa": (
        "Answer the question based on the given passage. Only give me the answer and do not output any other "
        "words. The following are some examples.\n\n{context}\n\n{input}"
    ),
    "samsum": "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}",
    "passage_count": (
        "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please carefully "
        "read these paragraphs and determine how many unique paragraphs there are after removing duplicates. In "
        "other words, how many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final "
        "count of unique paragraphs after removing duplicates. The output format should only contain the number, "
        "such as 1, 2, 3, and so on.\n\nThe final answer is: "
    ),
    "passage_retrieval_en": (
        "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph the "
        "abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the number "
        'of the paragraph that the abstract is from. The answer format must be like "Paragraph 1", "Paragraph 2", '
        "etc.\n\nThe answer is: "
    ),
    # Code completion: the context is the code so far (repobench-p adds the cross-file part as input).
    "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
    "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
    "infbench_en_qa": (
        "Read the book and answer the question. Be very concise in your answer.\n\n{context}\n\n"
        "Question: {input}\nAnswer:"
    ),
    "infbench_en_mc": (
        "Read the book and answer the question.\n\n{context}\n\nQuestion: {input}\n{options}\n\n"
        "The letter of the correct answer is"
    ),
    # ragroute's own benchmark: a Qasper-like prompt, where "unanswerable" is a legitimate answer.
    "mini": (
        "You are given a report and a question. Answer the question as concisely as you can, using a single "
        "phrase if possible. If the question cannot be answered based on the information in the report, write "
        '"unanswerable". Do not provide any explanation.\n\nReport: {context}\n\nQuestion: {input}\n\nAnswer:'
    ),
}

MAX_NEW_TOKENS: dict[str, int] = {
    "narrativeqa": 128, "qasper": 128, "multifieldqa_en": 64, "hotpotqa": 32, "2wikimqa": 32, "musique": 32,
    "qmsum": 512, "gov_report": 512, "multi_news": 512, "trec": 64, "triviaqa": 32, "samsum": 128,
    "passage_count": 32, "passage_retrieval_en": 32, "lcc": 64, "repobench-p": 64,
    "infbench_en_qa": 40, "infbench_en_mc": 40, "mini": 32, "longbench_v2": 128,
}  # fmt: skip

# LongBench's pred.py sends these prompts as plain text, without the model's chat template ("chat models are
# better off without build prompts on these tasks"): few-shot and code-completion prompts are continued.
NO_CHAT_TEMPLATE_TASKS: frozenset[str] = frozenset(
    {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"}
)


def uses_chat_template(dataset: str) -> bool:
    """False for the tasks LongBench sends without the chat template, True otherwise."""
    return dataset not in NO_CHAT_TEMPLATE_TASKS


def prompt_template(dataset: str) -> str:
    try:
        return LONG_BENCH_PROMPTS[dataset]
    except KeyError:
        hint = (
            " (LongBench v2 prompts come from tasks.evaluation.longbench_v2)"
            if dataset == "longbench_v2"
            else ""
        )
        raise ValueError(
            f"no prompt for dataset {dataset!r}{hint}; known: {', '.join(sorted(LONG_BENCH_PROMPTS))}"
        ) from None


def self_route_template(dataset: str) -> str:
    """The dataset's prompt with Self-Route's clause after the opening instruction and before the question.

    Prompts with no question cue after the context (summaries, few-shot, synthetic and code tasks) get the
    clause once, after the opening instruction (a trailing space there is dropped).
    """
    template = prompt_template(dataset)
    if '"unanswerable"' in template:  # Qasper and mini already offer the option
        return template
    clause = " " + UNANSWERABLE_CLAUSE
    first_break = template.index("\n")
    template = template[:first_break].rstrip(" ") + clause + template[first_break:]
    cue = max(template.rfind("\nQuestion:"), template.rfind("\nQuery:"))
    if cue < 0:
        return template
    while cue > 0 and template[cue - 1] == "\n":
        cue -= 1
    if template[cue - len("{context}") : cue] == "{context}":  # no instruction between context and question
        return template
    return template[:cue] + clause + template[cue:]


def format_options(options: list[str] | None) -> str:
    return "\n".join(f"{letter}. {option}" for letter, option in zip("ABCD", options or [], strict=False))

"""The orderings of RAG's chunks and when each is `rag` by construction, the RAG = LC count where k chunks hold the
whole context (real DuckDB), and the `mini` benchmark's shape: at the default k, RAG reads well under half."""

from __future__ import annotations

import itertools

import llama_cpp
import pytest

from schemas.benchmarks import Example, prompt_template
from schemas.settings import QWEN
from tasks.evaluation import longbench_v2
from tasks.evaluation.benchmark import plan_units
from tasks.evaluation.mini import generate, reports
from tasks.evaluation.retrieval import (
    RetrievedChunk,
    context_chunks,
    document_order,
    order_chunks,
    reorder,
    same_as_rag,
)
from tasks.evaluation.summary import EvalSummary, notes, summary_markdown
from warehouse import results
from warehouse.db import connect


def _chunks(indexes: list[int]) -> list[RetrievedChunk]:
    """Retrieved chunks, best first, with these chunk indexes."""
    return [
        RetrievedChunk(index, f"text {index}", 1.0 - rank / 10, f"id{index}")
        for rank, index in enumerate(indexes)
    ]


def test_document_order_sorts_the_top_k_by_chunk_index():
    retrieved = _chunks([7, 2, 9, 0])
    assert [c.chunk_index for c in document_order(retrieved)] == [0, 2, 7, 9]
    assert [c.chunk_index for c in order_chunks("rag_docorder", retrieved)] == [0, 2, 7, 9]
    assert [c.chunk_index for c in order_chunks("rag_reorder", retrieved)] == [7, 9, 0, 2]
    for method in ("rag", "self_route"):
        assert order_chunks(method, retrieved) == retrieved


@pytest.mark.parametrize("k", range(1, 7))
def test_an_ordering_is_skipped_exactly_where_it_is_rank_order_by_construction(k):
    # Over every ranking of k chunks: Jin et al.'s order is the rank order at k ≤ 2 only; document order is the
    # rank order for every ranking at k = 1 only.
    rankings = [_chunks(list(p)) for p in itertools.permutations(range(k))]
    reorder_is_rag = all(reorder(r) == r for r in rankings)
    docorder_is_rag = all(document_order(r) == r for r in rankings)
    assert (same_as_rag("rag_reorder", k) is not None) is reorder_is_rag
    assert (same_as_rag("rag_docorder", k) is not None) is docorder_is_rag
    assert same_as_rag("rag", k) is None and same_as_rag("self_route", k) is None


def test_skip_notes_say_why():
    assert same_as_rag("rag_reorder", 2) == (
        "rag_reorder at k=2 skipped: it is rag by construction at k ≤ 2 (it differs from k = 3)"
    )
    assert same_as_rag("rag_docorder", 1) == (
        "rag_docorder at k=1 skipped: it is rag by construction at k ≤ 1 (it differs from k = 2)"
    )
    assert "document order" in same_as_rag("rag_docorder", 5, document_ordered=True)


def test_longbench_v2_rag_prompt_is_the_same_for_every_ordering():
    """Why rag_reorder and rag_docorder are skipped on LongBench v2: its RAG template sorts the chunks itself."""
    item = {
        "context": "",
        "question": "Which?",
        "choice_A": "a",
        "choice_B": "b",
        "choice_C": "c",
        "choice_D": "d",
    }
    retrieved = _chunks([4, 1, 3, 0, 2])
    prompts = {
        method: longbench_v2.method_prompt(item, method, chunks=order_chunks(method, retrieved))
        for method in ("rag", "rag_reorder", "rag_docorder")
    }
    assert len(set(prompts.values())) == 1
    assert prompts["rag"].index("text 0") < prompts["rag"].index("text 4")


def test_plan_units_skips_orderings_that_are_rag_and_what_is_done():
    examples = generate(examples=2, words=400)
    methods = ["lc", "rag", "rag_reorder", "rag_docorder", "self_route"]
    done = {(examples[0].id, "rag", 3)}
    units, skipped = plan_units(examples, methods, [1, 2, 3], done)
    planned = {(example.id, method, k) for example, method, k in units}
    for example in examples:
        assert (example.id, "lc", 0) in planned
        assert {k for e, m, k in planned if e == example.id and m == "rag_reorder"} == {3}
        assert {k for e, m, k in planned if e == example.id and m == "rag_docorder"} == {2, 3}
        assert {k for e, m, k in planned if e == example.id and m == "self_route"} == {1, 2, 3}
    assert (examples[0].id, "rag", 3) not in planned and (examples[1].id, "rag", 3) in planned
    assert skipped == [
        same_as_rag("rag_reorder", 1),
        same_as_rag("rag_reorder", 2),
        same_as_rag("rag_docorder", 1),
    ]

    v2 = Example(
        _id="v2-1", dataset="longbench_v2", input="Which?", context="c", answers=["A"], options=list("abcd")
    )
    units, skipped = plan_units([v2], ["rag", "rag_reorder", "rag_docorder"], [5], set())
    assert [(m, k) for _, m, k in units] == [("rag", 5)]
    assert skipped == [same_as_rag(m, 5, document_ordered=True) for m in ("rag_reorder", "rag_docorder")]


def test_rag_equals_lc_where_k_chunks_hold_the_whole_context(tmp_path):
    """Two examples, one of 2 chunks and one of 9: at k = 3 the first is read whole, at k = 10 both are."""
    run = "whole-1"
    with connect(tmp_path / "w.duckdb") as con:
        results.start_run(con, run, "mini", ["lc", "rag", "self_route"], {}, "test", "m", "http://l")
        for example, chunks in (("short", 2), ("long", 9)):
            base = {"run_id": run, "example_id": example, "dataset": "mini", "model": "m", "error": None}
            results.write_prediction(con, base | {"method": "lc", "k": 0, "prompt_tokens": 900}, ("f1", 1.0))
            for method, k in itertools.product(("rag", "self_route"), (3, 10)):
                results.write_prediction(
                    con, base | {"method": method, "k": k, "prompt_tokens": 90}, ("f1", 1.0)
                )
            for k in (3, 10):
                rows = [[run, example, k, "hybrid", rank, f"{example}-{rank}", rank, 0.5, None, chunks]
                        for rank in range(1, min(k, chunks) + 1)]  # fmt: skip
                results.write_retrievals(con, rows)
        found = results.rag_whole_context(con, run)
    assert found == [
        {"method": "rag", "k": 3, "examples": 2, "whole_context": 1},
        {"method": "rag", "k": 10, "examples": 2, "whole_context": 2},
        {"method": "self_route", "k": 3, "examples": 2, "whole_context": 1},
        {"method": "self_route", "k": 10, "examples": 2, "whole_context": 2},
    ]
    summary = EvalSummary(run, "mini", "m", "completed", 0, 0, 0, [], whole_context=found[:1])
    summary.skipped = [same_as_rag("rag_reorder", 2)]
    assert notes(summary) == [
        same_as_rag("rag_reorder", 2),
        "rag k=3: RAG = LC on 1 of 2 examples: k chunks hold the whole context",
    ]
    assert "- rag k=3: RAG = LC on 1 of 2 examples: k chunks hold the whole context" in summary_markdown(
        summary
    )


def test_mini_at_the_default_k_reads_well_under_half_of_each_report(settings):
    """Six questions (two of each kind) over three ~4,000-word reports; at the default top-5 300-word chunks RAG
    sends under 40% of LC's tokens (counted with the demo model's tokenizer), and LC fits its 8k window."""
    examples = generate()
    assert [e.kind for e in examples] == ["answerable", "multi_hop", "unanswerable"] * 2
    assert len(reports(examples)) == 3
    vocab = llama_cpp.Llama(model_path=str(settings.models_dir / QWEN.file), vocab_only=True, verbose=False)
    try:
        for example in examples:
            chunks = context_chunks(example.context, settings.eval_chunk_words)
            assert len(chunks) > 2 * settings.eval_top_k  # k chunks never hold the whole report
            tokens = [len(vocab.tokenize(c.encode(), add_bos=False, special=False)) for c in chunks]
            assert sum(sorted(tokens)[-settings.eval_top_k :]) < 0.4 * sum(tokens)
            lc_prompt = prompt_template("mini").format(context=example.context, input=example.input)
            assert len(vocab.tokenize(lc_prompt.encode(), add_bos=False, special=False)) < 6000
    finally:
        vocab.close()


def test_mini_multi_hop_facts_lie_chunks_apart_and_unanswerable_questions_stay_unanswerable():
    for example in generate():
        chunks = context_chunks(example.context, 300)
        if example.kind == "multi_hop":
            holding = [next(i for i, c in enumerate(chunks) if fact in c) for fact in example.evidence]
            assert holding[1] - holding[0] >= 2
        if example.kind == "unanswerable":
            town = example.input.removeprefix("What colour is the flag of ").removesuffix("?")
            assert town not in example.context

"""The learned router on outcomes made to order: it learns a signal the features carry, its cross-validated
accuracy is what it scores on questions it did not see, and a question it was trained on is routed by the fold
model that did not see it (no leakage into an evaluation)."""

from __future__ import annotations

import io
import random

import joblib
import pytest

from tasks.routing.learned import RouteFeatures, RouterError, TrainedRouter, train


def _row(number: int, question: str, needs_lc: bool, rag_tokens: int, doc_tokens: int) -> dict:
    features = RouteFeatures(question, "single", [0.9, 0.6, 0.3], rag_tokens, doc_tokens)
    return {"run_id": f"r{number % 2}", "example_id": f"q{number}", "needs_lc": needs_lc} | features.record()


def test_it_learns_that_a_question_whose_chunks_cover_little_of_the_context_needs_lc():
    # LC wins where the retrieved chunks are a small share of a long context; RAG holds its own where they
    # cover most of it. The words say nothing: every question has its own.
    rows = [_row(n, f"question number {n} about item{n}", n % 2 == 0, 400, 20_000 if n % 2 == 0 else 500)
            for n in range(40)]  # fmt: skip
    router = train(rows)
    assert (router.examples, router.questions, router.needs_lc) == (40, 40, 20)
    assert router.cv_accuracy >= 0.9 > router.majority_accuracy == 0.5
    assert router.training_runs == ["r0", "r1"]
    unseen = RouteFeatures("a new question", None, [0.9, 0.6, 0.3], 400, 30_000)
    assert router.needs_lc_for(unseen) is True
    assert router.needs_lc_for(RouteFeatures("another", None, [0.9], 400, 450)) is False


def test_a_question_it_was_trained_on_is_routed_by_a_model_that_did_not_see_it():
    # Labels with no signal but the question's own words: the full model memorises them, the fold models cannot.
    chance = random.Random(7)
    rows = [_row(n, f"zq{n}x", chance.random() < 0.5, 400, 4000) for n in range(30)]
    router = train(rows)
    features = {row["example_id"]: RouteFeatures(row["question"], "single", [0.9, 0.6, 0.3], 400, 4000) for row in rows}
    held_out = [router.needs_lc_for(features[row["example_id"]], row["example_id"]) for row in rows]
    full = [router.needs_lc_for(features[row["example_id"]]) for row in rows]
    labels = [row["needs_lc"] for row in rows]
    accuracy = lambda predicted: sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(rows)  # noqa: E731
    assert accuracy(held_out) == pytest.approx(router.cv_accuracy)  # the very predictions cross-validation scored
    assert accuracy(full) > 0.9 > router.cv_accuracy  # the full model has seen the labels


def test_one_label_everywhere_routes_every_question_that_way():
    rows = [_row(n, f"question {n}", False, 400, 4000) for n in range(4)]
    router = train(rows)
    assert router.cv_accuracy == 1.0 and router.needs_lc == 0
    assert router.needs_lc_for(RouteFeatures("anything", None, [], 0, 0)) is False


def test_too_few_questions_and_other_features_are_refused():
    with pytest.raises(RouterError, match="at least 2 questions; 1 found"):
        train([_row(1, "only one", True, 400, 4000)])
    router = train([_row(n, f"question {n}", n == 0, 400, 4000) for n in range(3)])
    older = io.BytesIO()
    joblib.dump({"features_version": 0, "router": router}, older)
    with pytest.raises(RouterError, match="router r-0 was trained on features version 0"):
        TrainedRouter.load(older.getvalue(), "r-0")
    assert TrainedRouter.load(router.dump(), "r-1").router_id == "r-1"

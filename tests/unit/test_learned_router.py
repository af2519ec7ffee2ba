"""The learned router on outcomes made to order: it learns a signal the features carry, its cross-validated
accuracy is what it scores on questions it did not see, and a question it was trained on is routed by the fold
model that did not see it (no leakage into an evaluation)."""

from __future__ import annotations

import io
import random

import joblib
import pytest

from tasks.routing.learned import RouteFeatures, RouterError, TrainedRouter, describe, train


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
    # The context-share signal, with a few questions labelled against it: held out, those are routed wrong.
    chance = random.Random(7)
    rows = [_row(n, f"zq{n}x", (n % 2 == 0) != (chance.random() < 0.15), 400, 20_000 if n % 2 == 0 else 500)
            for n in range(40)]  # fmt: skip
    router = train(rows)
    assert router.kind == "logistic regression" and router.cv_accuracy > router.majority_accuracy
    features = {row["example_id"]: RouteFeatures(row["question"], "single", [0.9, 0.6, 0.3], row["rag_tokens"],
                                                 row["doc_tokens"]) for row in rows}  # fmt: skip
    held_out = [router.needs_lc_for(features[row["example_id"]], row["example_id"]) for row in rows]
    labels = [row["needs_lc"] for row in rows]
    accuracy = sum(p == y for p, y in zip(held_out, labels, strict=True)) / len(rows)
    assert accuracy == pytest.approx(router.cv_accuracy)  # the very predictions cross-validation scored
    assert len(router.folds) == 5 and len(router.fold_of) == 40


def test_a_regression_no_better_than_one_constant_arm_on_unseen_questions_gives_way_to_it():
    # One question of six needed LC, and nothing tells it apart: held out, the regression routes no better than
    # always choosing RAG, so the router always chooses RAG.
    rows = [_row(n, f"question about item{n}", n == 3, 400, 4000) for n in range(6)]
    router = train(rows)
    assert router.kind == "the commoner arm" and router.cv_accuracy == router.majority_accuracy == 5 / 6
    assert not any(router.needs_lc_for(RouteFeatures(row["question"], "single", [0.9, 0.6, 0.3], 400, 4000),
                                       row["example_id"]) for row in rows)  # fmt: skip
    assert "more outcomes are needed" in describe(router)


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

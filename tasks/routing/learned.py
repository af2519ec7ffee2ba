"""A learned router: decide before any generation whether a question needs long context, and so skip the RAG
call Self-Route would waste on it (a query classifier trained on which arm succeeded, as Adaptive-RAG does).

Trained per model and data set (or collection) from the warehouse's stored outcomes: for each question and k
where both `rag` and `lc` answered, the label is whether LC scored better than RAG (`needs_lc`). The features are
known before any answer: the question's words (TF-IDF), its kind, the retrieval scores (top score, margin to the
second, spread to the k-th), how many chunks came back, and the tokens of the retrieved chunks and of the whole
context. A logistic regression; its accuracy is cross-validated with folds grouped by question, and a question it
was trained on is routed by the fold model that did not see it, so an evaluation never scores a question with a
model that learned its label. A question predicted to need LC goes straight to LC, any other to RAG alone: one
answer step per question, where Self-Route pays a RAG step for every question it then sends to LC.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from schemas.errors import RagrouteError
from schemas.settings import Settings
from warehouse import routers
from warehouse.db import session_for

# Bumped when the features change: a router is only used with the features it was trained on.
FEATURES_VERSION = 1
NUMERIC = ["top_score", "score_margin", "score_spread", "retrieved", "log_rag_tokens", "log_doc_tokens",
           "rag_share"]  # fmt: skip
MAX_FOLDS = 5


class RouterError(RagrouteError):
    """A router cannot be trained (too few outcomes) or used (trained on other features)."""


@dataclass(frozen=True)
class RouteFeatures:
    """What is known of a question before any answer: its text and kind, the retrieval scores (best first) and
    the tokens of the retrieved chunks and of the whole context (the LC step's documents)."""

    question: str
    kind: str | None
    scores: Sequence[float]
    rag_tokens: int
    doc_tokens: int

    def record(self) -> dict:
        """The stored columns (`route_features`)."""
        scores = list(self.scores)
        return {
            "question": self.question,
            "kind": self.kind,
            "top_score": scores[0] if scores else 0.0,
            "score_margin": scores[0] - scores[1] if len(scores) > 1 else 0.0,
            "score_spread": scores[0] - scores[-1] if scores else 0.0,
            "retrieved": len(scores),
            "rag_tokens": self.rag_tokens,
            "doc_tokens": self.doc_tokens,
        }


def _frame(records: Sequence[dict]) -> pd.DataFrame:
    """The model's input: stored feature columns turned into its text, category and numeric columns."""
    frame = pd.DataFrame(
        {
            "question": [r["question"] or "" for r in records],
            "kind": [r["kind"] or "" for r in records],
            **{c: [float(r[c] or 0.0) for r in records] for c in ("top_score", "score_margin", "score_spread")},
            "retrieved": [float(r["retrieved"] or 0) for r in records],
            "log_rag_tokens": [math.log1p(r["rag_tokens"] or 0) for r in records],
            "log_doc_tokens": [math.log1p(r["doc_tokens"] or 0) for r in records],
            "rag_share": [min(1.0, (r["rag_tokens"] or 0) / max(1, r["doc_tokens"] or 0)) for r in records],
        }
    )
    return frame


def _classifier(labels: Sequence[bool]) -> Pipeline | DummyClassifier:
    """Logistic regression over the features; one label only: that label, whatever the question."""
    if len(set(labels)) < 2:
        return _constant(labels)
    columns = ColumnTransformer(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "question"),
            ("kind", OneHotEncoder(handle_unknown="ignore"), ["kind"]),
            ("numbers", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("features", columns), ("model", LogisticRegression(class_weight="balanced", max_iter=1000))])


def _constant(labels: Sequence[bool]) -> DummyClassifier:
    """The commoner label of the training outcomes, whatever the question."""
    return DummyClassifier(strategy="most_frequent")


REGRESSION, CONSTANT = "logistic regression", "the commoner arm"  # the kinds of router
CLASSIFIERS = {REGRESSION: _classifier, CONSTANT: _constant}


@dataclass
class CrossValidated:
    """One kind of model cross-validated: a model per fold, the fold holding out each question, and the
    out-of-fold predictions."""

    make: Callable[[Sequence[bool]], object]
    folds: list[object] = field(default_factory=list)
    fold_of: dict[str, int] = field(default_factory=dict)
    predicted: list[bool] = field(default_factory=list)

    def run(self, frame: pd.DataFrame, labels: list[bool], groups: list[str]) -> CrossValidated:
        splitter = GroupKFold(n_splits=min(MAX_FOLDS, len(set(groups))))
        self.predicted = [False] * len(labels)
        for fold, (train_at, test_at) in enumerate(splitter.split(frame, labels, groups)):
            trained_on = [labels[i] for i in train_at]
            model = self.make(trained_on).fit(frame.iloc[train_at], trained_on)
            for i, value in zip(test_at, model.predict(frame.iloc[test_at]), strict=True):
                self.predicted[i] = bool(value)
                self.fold_of[groups[i]] = fold
            self.folds.append(model)
        return self

    def accuracy(self, labels: list[bool]) -> float:
        return sum(p == y for p, y in zip(self.predicted, labels, strict=True)) / len(labels)


@dataclass
class TrainedRouter:
    """The model trained on every outcome, the fold models, and which fold held out each question."""

    full: object
    folds: list[object]
    fold_of: dict[str, int]  # example id -> the fold whose model did not see it
    examples: int  # (question, k) outcomes trained on
    questions: int
    needs_lc: int  # outcomes where LC scored better than RAG
    cv_accuracy: float  # out-of-fold predictions against the labels
    majority_accuracy: float  # always predicting the commoner label, for comparison
    training_runs: list[str] = field(default_factory=list)
    router_id: str | None = None
    kind: str = REGRESSION  # or CONSTANT, where the regression did no better held out

    def needs_lc_for(self, features: RouteFeatures, example_id: str | None = None) -> bool:
        """Whether the question should go straight to LC; a question trained on is routed by its fold's model."""
        fold = self.fold_of.get(example_id) if example_id is not None else None
        model = self.full if fold is None else self.folds[fold]
        return bool(model.predict(_frame([features.record()]))[0])

    def dump(self) -> bytes:
        buffer = io.BytesIO()
        joblib.dump({"features_version": FEATURES_VERSION, "router": self}, buffer)
        return buffer.getvalue()

    @staticmethod
    def load(blob: bytes, router_id: str) -> TrainedRouter:
        stored = joblib.load(io.BytesIO(blob))
        if stored["features_version"] != FEATURES_VERSION:
            raise RouterError(
                f"router {router_id} was trained on features version {stored['features_version']}, not "
                f"{FEATURES_VERSION}: train it again with `ragroute router train`"
            )
        router = stored["router"]
        router.router_id = router_id
        return router


def train(rows: Sequence[dict]) -> TrainedRouter:
    """Train on stored outcomes (`route_features` columns plus example_id, run_id and needs_lc). The logistic
    regression is kept when, on questions it did not see, it routes better than always choosing the commoner
    arm; otherwise (too few or too uninformative outcomes) the router is that constant choice."""
    questions = sorted({r["example_id"] for r in rows})
    if len(questions) < 2:
        raise RouterError(
            f"a router needs the RAG and LC outcomes of at least 2 questions; {len(questions)} found"
        )
    frame, labels = _frame(rows), [bool(r["needs_lc"]) for r in rows]
    groups = [r["example_id"] for r in rows]
    tried = {kind: CrossValidated(make).run(frame, labels, groups) for kind, make in CLASSIFIERS.items()}
    better = tried[REGRESSION].accuracy(labels) > tried[CONSTANT].accuracy(labels)
    kind = REGRESSION if better else CONSTANT  # a tie: the simpler one
    chosen, lc = tried[kind], sum(labels)
    return TrainedRouter(
        full=chosen.make(labels).fit(frame, labels),
        folds=chosen.folds,
        fold_of=chosen.fold_of,
        examples=len(rows),
        questions=len(questions),
        needs_lc=lc,
        cv_accuracy=chosen.accuracy(labels),
        majority_accuracy=max(lc, len(rows) - lc) / len(rows),
        training_runs=sorted({r["run_id"] for r in rows}),
        kind=kind,
    )


def describe(router: TrainedRouter) -> str:
    """One line on a router: what it was trained on and how well it routes questions it did not see."""
    runs = len(router.training_runs)
    line = (
        f"learned_route: router {(router.router_id or '')[:8]} trained on {router.examples} outcomes of "
        f"{router.questions} questions from {runs} run{'s' * (runs != 1)} ({router.needs_lc} needed LC); "
        f"cross-validated accuracy {router.cv_accuracy:.0%} (always the commoner label: "
        f"{router.majority_accuracy:.0%}); "
    )
    if router.kind != REGRESSION:
        return line + ("the logistic regression did no better on questions it did not see, so it routes every "
                       "question to the arm that was better more often: more outcomes are needed")  # fmt: skip
    return line + "a question it was trained on is routed by a fold model that did not see it"


def train_and_store(settings: Settings, dataset: str, model: str) -> TrainedRouter:
    """Train a router on the model's stored outcomes for the data set and store it (`routers`)."""
    with session_for(settings) as con:
        rows = routers.training_rows(con, model, dataset)
    try:
        trained = train(rows)
    except RouterError as error:
        raise RouterError(f"{dataset} with {model}: {error} (run `ragroute eval` with rag and lc first)") from None
    with session_for(settings) as con:
        trained.router_id = routers.write_router(con, model, dataset, FEATURES_VERSION, trained, trained.dump())
    return trained


def latest_router(settings: Settings, dataset: str, model: str) -> TrainedRouter | None:
    """The model's latest router for the data set, or None where none was trained."""
    with session_for(settings) as con:
        stored = routers.latest_router(con, model, dataset)
    return None if stored is None else TrainedRouter.load(stored[1], stored[0])

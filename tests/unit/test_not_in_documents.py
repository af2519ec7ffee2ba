"""`ask`'s "the documents do not say" as a corpus QA set scores it."""

from __future__ import annotations

from schemas.benchmarks import CorpusQuestion
from tasks.evaluation.corpus import _score
from tasks.routing.ask import NOT_IN_DOCUMENTS


def test_the_documents_do_not_say_scores_as_a_decline_in_a_corpus_qa_set():
    unanswerable = CorpusQuestion(id="u", question="What colour is the boat?", answers=["unanswerable"])
    answerable = CorpusQuestion(id="a", question="Which years?", answers=["1887 to 1902"])
    assert _score(NOT_IN_DOCUMENTS, unanswerable) == 1.0
    assert _score(NOT_IN_DOCUMENTS, answerable) == 0.0
    assert _score("She served from 1887 to 1902 [1].", answerable) > 0.5
    assert _score("The boat is red.", unanswerable) == 0.0

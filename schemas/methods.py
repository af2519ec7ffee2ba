"""The names of the evaluated methods and the retrievers: shared by the settings and the evaluation config."""

from __future__ import annotations

from typing import Literal, get_args

Method = Literal["lc", "rag", "rag_reorder", "rag_docorder", "self_route", "learned_route"]
Retriever = Literal["dense", "bm25", "hybrid"]
EVAL_METHODS: tuple[str, ...] = get_args(Method)
RETRIEVAL_METHODS = frozenset({"rag", "rag_reorder", "rag_docorder", "self_route", "learned_route"})
# The orderings of the same top-k chunks beside `rag`'s (best first): Jin et al.'s and document order (OP-RAG).
REORDERINGS = frozenset({"rag_reorder", "rag_docorder"})

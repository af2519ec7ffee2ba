"""The nightly job's work: fingerprints that decide what must be redone, planned evaluations, summaries.

A fingerprint is a hash of everything a step's result depends on (file contents, data set, settings, code
version). The nightly flow caches each step on its fingerprint, so unchanged work is skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path

from schemas.collection import collection_name
from schemas.plan import Evaluation
from schemas.settings import Settings
from tasks.chunk import config_signature
from tasks.datasets import load_and_quarantine
from tasks.evaluate import EvalConfig, EvalSummary, code_version, evaluate, evaluate_corpus
from tasks.ingest import scan


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def source_fingerprint(root: Path, settings: Settings, collection: str | None) -> str:
    """Changes when a file under `root` is added, edited or removed, or the ingest configuration changes."""
    files, problems = scan(root)
    return _digest(
        sorted((str(f.path), f.sha256) for f in files),
        sorted(p.path for p in problems),
        config_signature(settings),
        collection_name(collection or settings.collection, settings.embedding_model),
    )


def eval_config(evaluation: Evaluation, settings: Settings) -> EvalConfig:
    config = EvalConfig(
        dataset=evaluation.dataset,
        methods=evaluation.methods,
        ks=evaluation.k,
        retriever=evaluation.retriever or settings.eval_retriever,
        limit=evaluation.limit,
    )
    config.validate()
    return config


def dataset_fingerprint(evaluation: Evaluation, settings: Settings) -> str:
    """Changes with the data, the evaluation's configuration, the model and endpoint, and the code."""
    loaded = load_and_quarantine(evaluation.dataset, settings, evaluation.limit)
    records = [item.model_dump(mode="json") for item in loaded.examples + loaded.questions]
    return _digest(
        records,
        asdict(eval_config(evaluation, settings)),
        evaluation.collection,
        settings.llm_model,
        settings.llm_base_url,
        settings.llm_context_tokens,
        settings.eval_chunk_words,
        settings.eval_hybrid_alpha,
        settings.embedding_model,
        code_version(),
    )


def run_planned(evaluation: Evaluation, settings: Settings) -> EvalSummary:
    """Evaluate one planned data set (a benchmark on its contexts, or a QA set over a collection)."""
    loaded = load_and_quarantine(evaluation.dataset, settings, evaluation.limit)
    config = eval_config(evaluation, settings)
    if loaded.examples:
        return evaluate(loaded.examples, config, settings)
    return evaluate_corpus(loaded.questions, config, settings, evaluation.collection)


def artifact_key(prefix: str, name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) for a data set or folder name."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower()).strip("-")
    return f"{prefix}-{slug or 'unnamed'}"[:100]


def method_table(summary: EvalSummary) -> list[dict]:
    """One row per method and k: score, tokens, dollars and token % of LC."""
    return [
        {
            "method": row["method"],
            "k": row["k"],
            "n": row["n"],
            "score": round(row["score"], 2),
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "cost_usd": round(row["cost_usd"] or 0.0, 6),
            "token_pct_of_lc": None if row["token_pct_of_lc"] is None else round(row["token_pct_of_lc"], 1),
        }
        for row in summary.methods
    ]


def summary_markdown(summary: EvalSummary, report: Path | None = None) -> str:
    """A short markdown account of one evaluation run."""
    lines = [
        f"# {summary.dataset}: {summary.status}",
        "",
        f"Run `{summary.run_id}` with `{summary.model}`: {summary.llm_calls} LLM requests, "
        f"{summary.cached_calls} answers from the cache, {summary.errors} errors.",
        "",
        "| method | k | n | score | prompt tokens | completion tokens | $ | token % of LC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in method_table(summary):
        pct = "-" if row["token_pct_of_lc"] is None else f"{row['token_pct_of_lc']:.1f}"
        lines.append(
            f"| {row['method']} | {row['k']} | {row['n']} | {row['score']:.2f} | {row['prompt_tokens']} | "
            f"{row['completion_tokens']} | {row['cost_usd']:.4f} | {pct} |"
        )
    if report is not None:
        lines += ["", f"Dashboard: `{report}`"]
    return "\n".join(lines)

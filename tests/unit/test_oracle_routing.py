"""The oracle router on a real DuckDB warehouse filled through the warehouse's own writers: each question goes to
the arm that answered it better (RAG on ties), beside Self-Route."""

from __future__ import annotations

from warehouse import results
from warehouse.db import session

# example -> (rag score, lc score, self_route score, self_route route)
ANSWERS = {"e1": (1.0, 1.0, 1.0, "rag"), "e2": (0.0, 1.0, 1.0, "lc"), "e3": (1.0, 0.0, 0.0, "lc"),
           "e4": (0.0, 0.0, 0.0, "rag")}  # fmt: skip
TOKENS = {"rag": 100, "lc": 1000}


def _write(path) -> None:
    with session(path) as con:
        results.start_run(con, "r", "mini", ["rag", "lc", "self_route"], {}, "test", "m", "http://llm")
        for example, (rag, lc, self_route, route) in ANSWERS.items():
            for method, k, score, tokens in (("rag", 5, rag, 100), ("lc", 0, lc, 1000),
                                             ("self_route", 5, self_route, 100 + 1000 * (route == "lc"))):  # fmt: skip
                row = {"run_id": "r", "example_id": example, "dataset": "mini", "method": method, "k": k,
                       "model": "m", "route": route if method == "self_route" else method, "prediction": "x",
                       "prompt_tokens": tokens, "completion_tokens": 5, "cost_usd": 0.0, "error": None}  # fmt: skip
                results.write_prediction(con, row, ("qa_f1_score", score))
        results.finish_run(con, "r", "completed")


def test_the_oracle_takes_the_better_arm_and_rag_on_ties(tmp_path):
    path = tmp_path / "w.duckdb"
    _write(path)
    with session(path) as con:
        [row] = results.oracle_routing(con, "r")
    # e1 tie -> RAG, e2 -> LC, e3 -> RAG, e4 tie -> RAG: 3 of 4 right, 100 + 1000 + 100 + 100 of 4000 tokens.
    assert (row["k"], row["n"], row["oracle_score"], row["oracle_token_pct_of_lc"], row["oracle_rag_pct"]) == (
        5, 4, 75.0, 32.5, 75.0)  # fmt: skip
    assert (row["rag_score"], row["lc_score"], row["self_route_score"]) == (50.0, 50.0, 50.0)
    assert row["self_route_token_pct_of_lc"] == 60.0 and row["self_route_gap"] == -25.0

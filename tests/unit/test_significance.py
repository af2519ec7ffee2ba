"""The statistical regression gate on synthetic paired scores: a small drop on few examples is chance, a large
drop on many is not; McNemar's test for 0/1 scores, the bootstrap interval otherwise."""

from __future__ import annotations

import numpy as np

from tasks.evaluation.significance import paired_test


def _continuous(n: int, drop: float, spread: float = 0.15, seed: int = 1) -> list[tuple[float, float]]:
    """n pairs of token-F1-like scores whose mean falls by `drop` (0..1), with per-example noise."""
    rng = np.random.default_rng(seed)
    baseline = rng.uniform(0.3, 0.9, n)
    noise = rng.normal(0, spread, n)
    scores = np.clip(baseline - drop + noise - noise.mean(), 0, 1)
    return list(zip(scores.tolist(), baseline.tolist(), strict=True))


def _binary(n: int, base_right: int, worse: int, better: int) -> list[tuple[float, float]]:
    """n 0/1 pairs: the baseline right on `base_right`; `worse` of those wrong now, `better` of the rest right."""
    pairs = [(1.0, 1.0)] * (base_right - worse) + [(0.0, 1.0)] * worse
    pairs += [(1.0, 0.0)] * better + [(0.0, 0.0)] * (n - base_right - better)
    return pairs


def test_a_two_point_drop_on_twenty_examples_is_chance():
    test = paired_test(_continuous(20, 0.02))
    assert test.n == 20 and -3 < test.mean_delta < -1 and test.p_value is None
    assert test.ci_low < 0 < test.ci_high and not test.significant


def test_a_ten_point_drop_on_two_hundred_examples_is_not():
    test = paired_test(_continuous(200, 0.10))
    assert -11 < test.mean_delta < -9 and test.ci_high < 0 and test.significant


def test_zero_one_scores_use_mcnemar():
    drop = paired_test(_binary(200, base_right=120, worse=30, better=10))  # 60% -> 50%
    assert drop.mean_delta == -10.0 and drop.p_value < 0.01 and drop.significant
    small = paired_test(_binary(20, base_right=12, worse=2, better=1))  # 60% -> 55%
    assert small.p_value > 0.5 and not small.significant
    assert paired_test(_binary(10, 5, 0, 0)).p_value == 1.0  # no disagreement
    assert paired_test([]) is None


def test_the_interval_is_the_same_for_the_same_pairs():
    pairs = _continuous(50, 0.05)
    assert paired_test(pairs) == paired_test(pairs)

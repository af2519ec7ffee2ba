"""Is a score change between two runs more than chance? A paired comparison over the examples both runs answered:
the bootstrap confidence interval of the mean per-example score difference, and, where every score is 0 or 1,
McNemar's exact test on the examples the two runs disagree on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

LEVEL = 0.95
RESAMPLES = 2000
SEED = 0  # the same pairs always give the same interval


@dataclass(frozen=True)
class PairedTest:
    """The mean score difference (points of 100, run − baseline) over `n` paired examples, its confidence
    interval, McNemar's p-value (0/1 scores only), and whether the difference is more than chance."""

    n: int
    mean_delta: float
    ci_low: float
    ci_high: float
    p_value: float | None

    @property
    def significant(self) -> bool:
        """McNemar's test for 0/1 scores, else the interval: it excludes 0."""
        if self.p_value is not None:
            return self.p_value < 1 - LEVEL
        return self.ci_low > 0 or self.ci_high < 0

    def describe(self) -> str:
        p = "" if self.p_value is None else f", McNemar p = {self.p_value:.3f}"
        return f"{LEVEL:.0%} CI [{self.ci_low:+.2f}, {self.ci_high:+.2f}] over {self.n} paired examples{p}"


def bootstrap_ci(differences: np.ndarray, resamples: int = RESAMPLES, level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of the paired differences."""
    rng = np.random.default_rng(SEED)
    draws = rng.integers(0, len(differences), size=(resamples, len(differences)))
    means = differences[draws].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def mcnemar_p(scores: np.ndarray, baseline: np.ndarray) -> float | None:
    """McNemar's exact (binomial) test on the discordant pairs; None unless every score is 0 or 1."""
    if not (np.isin(scores, (0.0, 1.0)).all() and np.isin(baseline, (0.0, 1.0)).all()):
        return None
    worse = int(((baseline == 1) & (scores == 0)).sum())
    better = int(((baseline == 0) & (scores == 1)).sum())
    if worse + better == 0:
        return 1.0
    return float(binomtest(worse, worse + better, 0.5).pvalue)


def paired_test(pairs: Sequence[tuple[float, float]]) -> PairedTest | None:
    """The test over (score, baseline score) pairs in [0, 1], one per example; None without pairs."""
    if not pairs:
        return None
    scores, baseline = (np.asarray(column, dtype=float) for column in zip(*pairs, strict=True))
    differences = 100 * (scores - baseline)
    low, high = bootstrap_ci(differences)
    return PairedTest(len(pairs), round(float(differences.mean()), 2), round(low, 2), round(high, 2),
                      mcnemar_p(scores, baseline))  # fmt: skip

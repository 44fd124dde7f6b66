"""Statistics for comparing conditions over a handful of seeds.

Runs of an LLM-driven search are expensive, so a condition typically has 3-10 seeds and its
metrics are neither normal nor homoscedastic. Everything here is therefore non-parametric: medians
with percentile-bootstrap confidence intervals, the Mann-Whitney U test for differences, the
Vargha-Delaney A12 effect size, and the Holm-Bonferroni step-down correction for the many pairwise
tests of an ablation. This is the protocol recommended for comparing randomised search algorithms
by Arcuri & Briand (2011), "A practical guide for using statistical tests to assess randomized
algorithms in software engineering", ICSE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
from scipy.stats import PermutationMethod, mannwhitneyu

__all__ = ["MedianCI", "a12", "holm", "mann_whitney_p", "median_ci"]

EXACT_LIMIT = 20_000  # splits of the pooled runs up to which Mann-Whitney p is enumerated


@dataclass(frozen=True)
class MedianCI:
    """A sample median with the bounds of its bootstrap confidence interval."""

    median: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.median:.4g} [{self.low:.4g}, {self.high:.4g}]"


def median_ci(values: Sequence[float], *, confidence: float = 0.95, resamples: int = 10_000,
              seed: int = 0) -> MedianCI:
    """Median with a percentile-bootstrap confidence interval (Efron & Tibshirani 1993).

    ``resamples`` samples of the same size are drawn with replacement using a seeded
    ``numpy.random.Generator`` (so tables are reproducible); the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of their medians. With three
    seeds the interval is the sample range: say so when reporting it. NaNs are dropped.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return MedianCI(np.nan, np.nan, np.nan, 0)
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(medians, [tail, 100.0 - tail])
    return MedianCI(float(np.median(x)), float(low), float(high), int(x.size))


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (Mann & Whitney 1947) that ``a`` and ``b``
    come from the same distribution, via ``scipy.stats.mannwhitneyu``.

    When there are at most ``EXACT_LIMIT`` ways to split the pooled runs, the p-value is exact:
    every split is enumerated (``PermutationMethod``). That matters with ties, which are common
    here (fitness is a share of a few tests): scipy's default then falls back to the normal
    approximation, which for 3 runs against 3 can report p = 0.047 where the exact answer is 0.1.
    Returns NaN when a sample is empty and 1.0 when all values are equal.

    Note the floor on what few seeds can show: with 3 runs against 3 the smallest possible
    two-sided p is 0.1; 5 against 5 reach 0.008.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0:
        return float("nan")
    if np.all(np.concatenate([x, y]) == x[0]):
        return 1.0
    method = (PermutationMethod(n_resamples=np.inf)
              if comb(x.size + y.size, x.size) <= EXACT_LIMIT else "auto")
    return float(mannwhitneyu(x, y, alternative="two-sided", method=method).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979, "A simple sequentially rejective multiple
    test procedure", Scand. J. Statistics 6(2):65-70).

    Sorting the m p-values ascending, the i-th (0-based) is multiplied by m - i, capped at 1, and
    made monotone with a running maximum; the family-wise error rate is then controlled at the
    level you compare the adjusted values with. NaNs stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m, running = len(order), 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def a12(a: Sequence[float], b: Sequence[float]) -> float:
    """Vargha-Delaney A12 effect size: the probability that a value drawn from ``a`` is larger
    than one drawn from ``b``, ties counting half (Vargha & Delaney 2000, "A critique and
    improvement of the CL common language effect size statistics of McGraw and Wong", J. Educ.
    Behav. Stat. 25(2):101-132). 0.5 means no effect; their thresholds for small / medium / large
    are 0.56 / 0.64 / 0.71 (and symmetrically below 0.5).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0:
        return float("nan")
    greater = (x[:, None] > y[None, :]).sum()
    equal = (x[:, None] == y[None, :]).sum()
    return float((greater + 0.5 * equal) / (x.size * y.size))

"""The statistics, each checked against values computed independently (by hand or brute force)."""

from math import comb

import numpy as np
import pytest

from qdagents.stats import a12, holm, mann_whitney_p, median_ci


def test_holm_matches_hand_computed_case():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_skips_nan():
    # m = 2 (NaN does not count): 0.3*2 = 0.6, 0.7*1 = 0.7
    adjusted = holm([0.7, float("nan"), 0.3])
    assert adjusted[0] == pytest.approx(0.7) and adjusted[2] == pytest.approx(0.6)
    assert np.isnan(adjusted[1])
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == pytest.approx([0.02])


def test_a12_matches_hand_computed_values():
    # 1 beats none of (2, 2, 4); 2 ties twice (2 x 0.5); 3 beats both 2s: (0 + 1 + 2) / 9
    assert a12([1, 2, 3], [2, 2, 4]) == pytest.approx(3 / 9)
    assert a12([2, 2, 4], [1, 2, 3]) == pytest.approx(6 / 9)
    assert a12([5, 6], [1, 2, 3]) == 1.0
    assert a12([1, 1], [1, 1, 1]) == 0.5
    assert np.isnan(a12([], [1]))


@pytest.mark.parametrize("a, b", [
    ([1, 2, 3], [4, 5, 6]),
    ([1, 2, 3], [3, 5, 6]),
    ([0.875, 0.875, 0.875], [1.0, 1.0, 1.0]),
    ([10.5, 12.0, 9.0, 11.0], [13.0, 8.0, 14.5]),
    ([1, 1, 2, 3, 3], [2, 3, 4, 4, 5]),
    ([0.2, 0.4, 0.4, 0.6, 0.8], [0.4, 0.6, 0.6]),
])
def test_mann_whitney_matches_brute_force_enumeration(a, b, exact_mann_whitney_p):
    assert mann_whitney_p(a, b) == pytest.approx(exact_mann_whitney_p(a, b))
    assert mann_whitney_p(b, a) == pytest.approx(mann_whitney_p(a, b))


def test_mann_whitney_degenerate_samples():
    assert mann_whitney_p([1, 1, 1], [1, 1]) == 1.0
    assert np.isnan(mann_whitney_p([], [1, 2]))
    # 3 runs against 3 can never go below 2 / C(6, 3) = 0.1
    assert mann_whitney_p([1, 2, 3], [7, 8, 9]) == pytest.approx(2 / comb(6, 3))


def test_median_ci_three_seeds_is_the_range():
    # bootstrap medians of (1, 2, 3): P(1) = P(3) = 7/27, far above 2.5%, so the CI is the range
    ci = median_ci([3.0, 1.0, 2.0])
    assert (ci.median, ci.low, ci.high, ci.n) == (2.0, 1.0, 3.0, 3)


def test_median_ci_matches_exact_bootstrap_distribution():
    # For n odd and distinct values, the resampled median is <= x_(k) exactly when at least
    # (n+1)/2 of the n draws come from the k smallest values: a binomial tail.
    x = np.array([3.1, 0.4, 7.7, 2.2, 5.0, 9.3, 1.8, 6.6, 4.4, 8.1, 0.9])
    n, s = len(x), np.sort(x)
    cdf = np.array([sum(comb(n, j) * (k / n) ** j * (1 - k / n) ** (n - j)
                        for j in range((n + 1) // 2, n + 1)) for k in range(1, n + 1)])
    lower_k = int(np.argmax(cdf >= 0.025))
    upper_k = int(np.argmax(cdf >= 0.975))
    assert abs(cdf[lower_k] - 0.025) > 0.005 and abs(cdf[upper_k] - 0.975) > 0.005  # no tie
    ci = median_ci(x)
    assert ci.median == np.median(x)
    assert (ci.low, ci.high) == (s[lower_k], s[upper_k])


def test_median_ci_is_seeded_and_drops_nan():
    values = [0.3, 0.9, 0.1, 0.5, float("nan"), 0.7, 0.2]
    assert median_ci(values) == median_ci(values)
    assert median_ci(values).n == 6
    one = median_ci([0.4])
    assert (one.median, one.low, one.high) == (0.4, 0.4, 0.4)
    assert np.isnan(median_ci([]).median)

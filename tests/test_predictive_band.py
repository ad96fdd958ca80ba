"""The predictive band: the figure as it would be reported, replications with reporting error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import log_ndtr
from scipy.stats import norm

from flowsim.inference.likelihood import predictive_quantiles

PROBS = (0.05, 0.5, 0.95)


def test_one_replication_gives_the_reporting_error_alone():
    quantiles = predictive_quantiles(np.array([1000.0]), PROBS, reporting_error=0.1)
    expected = [math.expm1(math.log1p(1000.0) + norm.ppf(p) * 0.1) for p in PROBS]
    assert quantiles == pytest.approx(expected, rel=1e-9)


def test_the_band_is_the_mixture_over_replications():
    # The exact quantiles of the mixture hold, within binomial error, for draws of it:
    # a replication chosen at random, times a log-normal reporting error.
    rng = np.random.default_rng(11)
    simulated = rng.lognormal(math.log(5000.0), 0.3, size=20)
    quantiles = predictive_quantiles(simulated, PROBS, reporting_error=0.15)
    n = 400_000
    draws = np.expm1(
        np.log1p(simulated[rng.integers(0, simulated.size, n)]) + rng.normal(0.0, 0.15, n)
    )
    for p, q in zip(PROBS, quantiles, strict=True):
        assert abs((draws <= q).mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    # and the band is wider than the replications' own: reporting error adds spread
    assert quantiles[0] < np.quantile(simulated, 0.05)
    assert quantiles[2] > np.quantile(simulated, 0.95)


def test_no_reporting_error_gives_the_replications_quantiles():
    simulated = np.array([0.0, 3.0, 10.0, 30.0, 100.0])
    expected = np.quantile(simulated, PROBS)  # what sim_p05..sim_p95 are
    assert predictive_quantiles(simulated, PROBS, reporting_error=0.0) == pytest.approx(expected)


def test_a_quantile_between_replications_far_apart_is_the_exact_root():
    # 1 replication at 0 and 19 at 6, sd 0.1: F is 1/20 to double precision all the way
    # between them, so p05 is where the upper tail of the first balances the lower tails
    # of the others, Phi(-q / s) = 19 Phi((q - log1p 6) / s), solved here on a log scale.
    simulated = np.array([0.0] + [6.0] * 19)
    m, s = math.log1p(6.0), 0.1
    root = brentq(lambda q: log_ndtr(-q / s) - math.log(19) - log_ndtr((q - m) / s), 0.0, m)
    assert predictive_quantiles(simulated, PROBS, s)[0] == pytest.approx(math.expm1(root))


def test_a_tiny_reporting_error_gives_the_value_itself():
    assert predictive_quantiles(np.array([1000.0]), PROBS, 1e-18) == pytest.approx([1000.0] * 3)


def test_a_count_near_zero_is_never_predicted_negative():
    low, _, high = predictive_quantiles(np.array([0.0, 0.0, 1.0]), PROBS, reporting_error=0.5)
    assert low == 0.0 and high > 0.0


def test_undefined_replications_give_an_undefined_band():
    assert all(math.isnan(q) for q in predictive_quantiles(np.array([np.nan, np.inf]), PROBS))

"""Checks of the exact queueing formulas in tests/queueing_theory.py.

Each formula is pinned by either a textbook closed form or an independent
numerical solve (dense generator matrix of a truncated CTMC) that shares no
code with the implementation under test. The same goes for the balking chain of
tests/validation/birth_death.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from birth_death import mmc_balk_renege, stationary
from queueing_theory import (
    erlang_a_abandonment_probability,
    erlang_a_mean_wait,
    erlang_a_stationary_distribution,
    erlang_a_wait_probability,
    erlang_b,
    erlang_c_wait_probability,
    md1_mean_wait,
    mg1_mean_wait,
    mmc_mean_queue_length,
    mmc_mean_wait,
    mmc_wait_variance,
)
from scipy import stats


def _ctmc_birth_death(lam: float, death, n_max: int) -> np.ndarray:
    """Stationary law of a truncated birth-death chain via its dense generator."""
    q = np.zeros((n_max + 1, n_max + 1))
    for n in range(n_max):
        q[n, n + 1] = lam
    for n in range(1, n_max + 1):
        q[n, n - 1] = death(n)
    q -= np.diag(q.sum(axis=1))
    # Solve pi Q = 0, sum(pi) = 1 by replacing one balance equation.
    a = q.T.copy()
    a[-1, :] = 1.0
    rhs = np.zeros(n_max + 1)
    rhs[-1] = 1.0
    return np.linalg.solve(a, rhs)


# --------------------------------------------------------------------- M/M/c


@pytest.mark.parametrize("lam, mu", [(0.5, 1.0), (0.9, 1.0), (3.0, 4.0), (0.99, 1.0)])
def test_mm1_textbook(lam: float, mu: float) -> None:
    rho = lam / mu
    assert erlang_c_wait_probability(lam, mu, 1) == pytest.approx(rho, rel=1e-13)
    assert mmc_mean_wait(lam, mu, 1) == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert mmc_mean_queue_length(lam, mu, 1) == pytest.approx(rho**2 / (1 - rho), rel=1e-12)
    assert mmc_wait_variance(lam, mu, 1) == pytest.approx(
        rho * (2 - rho) / (mu - lam) ** 2, rel=1e-12
    )


def test_mm2_hand_values() -> None:
    # lam = mu = 1, c = 2: a = 1, B = 0.2, C = 1/3, Wq = C / (2 - 1) = 1/3.
    assert erlang_b(1.0, 2) == pytest.approx(0.2, rel=1e-14)
    assert erlang_c_wait_probability(1.0, 1.0, 2) == pytest.approx(1 / 3, rel=1e-14)
    assert mmc_mean_wait(1.0, 1.0, 2) == pytest.approx(1 / 3, rel=1e-14)
    assert mmc_mean_queue_length(1.0, 1.0, 2) == pytest.approx(1 / 3, rel=1e-14)
    # Var = C (2 - C) / (c mu - lam)^2 = (1/3)(5/3) = 5/9.
    assert mmc_wait_variance(1.0, 1.0, 2) == pytest.approx(5 / 9, rel=1e-14)


def test_mm2_closed_form() -> None:
    # For c = 2 the M/M/2 has Wq = rho^2 / (mu (1 - rho^2)) with rho = lam / (2 mu).
    lam, mu = 1.8, 1.0
    rho = lam / (2 * mu)
    assert mmc_mean_wait(lam, mu, 2) == pytest.approx(rho**2 / (mu * (1 - rho**2)), rel=1e-12)


@pytest.mark.parametrize("lam, mu, c", [(1.8, 1.0, 2), (4.5, 1.0, 5), (9.0, 0.7, 14)])
def test_mmc_against_generator_solve(lam: float, mu: float, c: int) -> None:
    n_max = 600
    p = _ctmc_birth_death(lam, lambda n: min(n, c) * mu, n_max)
    n = np.arange(n_max + 1)
    p_wait = p[c:].sum()  # PASTA
    lq = np.dot(np.maximum(n - c, 0), p)
    # Given n >= c in system on arrival, the FCFS wait is a sum of k = n - c + 1
    # Exp(c mu) stages: E[W^2 | n] = k (k + 1) / (c mu)^2.
    k = np.maximum(n - c + 1, 0)
    ew = np.dot(p, k) / (c * mu)
    ew2 = np.dot(p, k * (k + 1)) / (c * mu) ** 2
    assert erlang_c_wait_probability(lam, mu, c) == pytest.approx(p_wait, rel=1e-9)
    assert mmc_mean_queue_length(lam, mu, c) == pytest.approx(lq, rel=1e-9)
    assert mmc_mean_wait(lam, mu, c) == pytest.approx(ew, rel=1e-9)
    assert mmc_wait_variance(lam, mu, c) == pytest.approx(ew2 - ew**2, rel=1e-9)


@pytest.mark.parametrize("a, c", [(95.0, 100), (480.0, 500), (4950.0, 5000)])
def test_erlang_large_c_stable(a: float, c: int) -> None:
    # Poisson representation: B = P(X = c) / P(X <= c) with X ~ Poisson(a).
    b_ref = math.exp(stats.poisson.logpmf(c, a) - stats.poisson.logcdf(c, a))
    assert erlang_b(a, c) == pytest.approx(b_ref, rel=1e-9)
    rho = a / c
    c_ref = b_ref / (1 - rho * (1 - b_ref))
    cw = erlang_c_wait_probability(a, 1.0, c)
    assert math.isfinite(cw) and 0 < cw < 1
    assert cw == pytest.approx(c_ref, rel=1e-9)


def test_unstable_rejected() -> None:
    with pytest.raises(ValueError):
        mmc_mean_wait(2.0, 1.0, 2)
    with pytest.raises(ValueError):
        md1_mean_wait(1.0, 1.0)


# --------------------------------------------------------------------- M/G/1


@pytest.mark.parametrize("lam, s", [(0.5, 1.0), (0.9, 1.0), (2.0, 0.3)])
def test_md1(lam: float, s: float) -> None:
    rho = lam * s
    assert md1_mean_wait(lam, s) == pytest.approx(rho * s / (2 * (1 - rho)), rel=1e-13)
    assert md1_mean_wait(lam, s) == mg1_mean_wait(lam, s, 0.0)
    # Deterministic service halves the M/M/1 wait.
    assert md1_mean_wait(lam, s) == pytest.approx(0.5 * mmc_mean_wait(lam, 1 / s, 1), rel=1e-12)


@pytest.mark.parametrize("lam, mu", [(0.5, 1.0), (0.9, 1.0), (3.0, 4.0)])
def test_mg1_exponential_is_mm1(lam: float, mu: float) -> None:
    assert mg1_mean_wait(lam, 1 / mu, 1 / mu**2) == pytest.approx(
        mmc_mean_wait(lam, mu, 1), rel=1e-12
    )


def test_mg1_erlang_k() -> None:
    # Erlang-k service (mean s, var s^2/k): Wq = (1 + 1/k)/2 * rho s / (1 - rho).
    lam, s, k = 0.8, 1.0, 4
    rho = lam * s
    assert mg1_mean_wait(lam, s, s**2 / k) == pytest.approx(
        (1 + 1 / k) / 2 * rho * s / (1 - rho), rel=1e-13
    )


# ------------------------------------------------------------------ Erlang A


@pytest.mark.parametrize(
    "lam, mu, c, theta",
    [(0.8, 1.0, 1, 0.3), (1.5, 1.0, 1, 2.0), (5.0, 1.0, 3, 0.5), (2.5, 1.2, 2, 0.05)],
)
def test_erlang_a_against_generator_solve(lam: float, mu: float, c: int, theta: float) -> None:
    n_max = 800
    p = _ctmc_birth_death(lam, lambda n: min(n, c) * mu + max(n - c, 0) * theta, n_max)
    n = np.arange(n_max + 1)
    excess = np.dot(np.maximum(n - c, 0), p)
    assert erlang_a_abandonment_probability(lam, mu, c, theta) == pytest.approx(
        theta * excess / lam, rel=1e-9
    )
    assert erlang_a_mean_wait(lam, mu, c, theta) == pytest.approx(excess / lam, rel=1e-9)
    assert erlang_a_wait_probability(lam, mu, c, theta) == pytest.approx(p[c:].sum(), rel=1e-9)
    # Flow conservation: served flow + abandonment flow = arrival flow.
    served = mu * np.dot(np.minimum(n, c), p)
    p_ab = erlang_a_abandonment_probability(lam, mu, c, theta)
    assert served + lam * p_ab == pytest.approx(lam, rel=1e-9)


@pytest.mark.parametrize("lam, mu, c", [(1.0, 1.0, 1), (7.0, 1.0, 5), (30.0, 2.0, 12)])
def test_erlang_a_theta_equals_mu_is_poisson(lam: float, mu: float, c: int) -> None:
    # With theta = mu every customer in system leaves at rate mu, so N ~ Poisson(a)
    # exactly as in M/M/infinity.
    a = lam / mu
    k = np.arange(0, c)
    excess = a - c + np.dot(c - k, stats.poisson.pmf(k, a))  # E[(N - c)^+]
    assert erlang_a_abandonment_probability(lam, mu, c, mu) == pytest.approx(
        mu * excess / lam, rel=1e-10
    )
    assert erlang_a_wait_probability(lam, mu, c, mu) == pytest.approx(
        stats.poisson.sf(c - 1, a), rel=1e-10
    )


def test_erlang_a_small_theta_tends_to_erlang_c() -> None:
    # For a stable M/M/c, theta -> 0 recovers M/M/c; to first order the
    # abandonment probability is theta * Wq (queue-time flow at rate theta).
    lam, mu, c = 1.8, 1.0, 2
    wq = mmc_mean_wait(lam, mu, c)
    theta = 1e-7
    assert erlang_a_mean_wait(lam, mu, c, theta) == pytest.approx(wq, rel=1e-4)
    assert erlang_a_wait_probability(lam, mu, c, theta) == pytest.approx(
        erlang_c_wait_probability(lam, mu, c), rel=1e-4
    )
    assert erlang_a_abandonment_probability(lam, mu, c, theta) / theta == pytest.approx(
        wq, rel=1e-4
    )


@pytest.mark.parametrize("lam, mu, c", [(1.0, 1.0, 2), (8.0, 1.0, 6), (3.0, 1.5, 1)])
def test_erlang_a_large_theta_tends_to_erlang_b(lam: float, mu: float, c: int) -> None:
    # theta -> infinity: anyone who has to wait leaves at once (M/M/c/c loss system).
    a = lam / mu
    p_ab = erlang_a_abandonment_probability(lam, mu, c, 1e7)
    assert p_ab == pytest.approx(erlang_b(a, c), rel=1e-5)


def test_erlang_a_overloaded_and_many_servers() -> None:
    # Overloaded (lam > c mu) is fine with abandonment; for large overload the
    # fluid limit gives P(abandon) ~ 1 - c mu / lam.
    lam, mu, c, theta = 1200.0, 1.0, 1000, 1.0
    p = erlang_a_stationary_distribution(lam, mu, c, theta)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    p_ab = erlang_a_abandonment_probability(lam, mu, c, theta)
    assert p_ab == pytest.approx(1 - c * mu / lam, abs=0.01)
    assert 0 < p_ab < 1


def test_erlang_a_truncation_tail_negligible() -> None:
    p = erlang_a_stationary_distribution(5.0, 1.0, 3, 0.01)
    assert p[-1] < 1e-13
    with pytest.raises(ValueError):
        erlang_a_stationary_distribution(1.0, 1.0, 1, 0.0)


# ------------------------------------------------ balking (tests/validation/birth_death.py)


def _ctmc_general(birth, death, n_max: int) -> np.ndarray:
    """Dense-generator solve of a birth-death chain with state-dependent births."""
    q = np.zeros((n_max + 1, n_max + 1))
    for n in range(n_max):
        q[n, n + 1] = birth(n)
        q[n + 1, n] = death(n + 1)
    q -= np.diag(q.sum(axis=1))
    a = q.T.copy()
    a[-1, :] = 1.0
    rhs = np.zeros(n_max + 1)
    rhs[-1] = 1.0
    return np.linalg.solve(a, rhs)


@pytest.mark.parametrize(
    "lam, s, c, balk, patience",
    [
        (0.25, 10.0, 2, 20.0, None),
        (0.25, 10.0, 2, 20.0, 30.0),
        (3.0, 1.0, 4, 0.5, 2.0),
        (0.9, 1.0, 1, 5.0, None),
    ],
)
def test_balking_chain_against_generator_solve(lam, s, c, balk, patience) -> None:
    theta = 0.0 if patience is None else 1 / patience
    join = [math.exp(-max(n - c, 0) * s / (c * balk)) for n in range(601)]
    p = _ctmc_general(lambda n: lam * join[n], lambda n: min(n, c) / s + max(n - c, 0) * theta, 600)
    n = np.arange(p.size)
    exact = mmc_balk_renege(lam, s, c, balk, patience)
    assert exact.p_balk == pytest.approx(np.dot(p, 1 - np.array(join)), rel=1e-9)
    assert exact.queue_length == pytest.approx(np.dot(p, np.maximum(n - c, 0)), rel=1e-9)
    # Flow balance: arrivals = balking + reneging + service completions.
    served = np.dot(p, np.minimum(n, c)) / s
    assert lam * (exact.p_balk + exact.p_renege) + served == pytest.approx(lam, rel=1e-9)


def test_balking_chain_without_balking_is_erlang_a_and_c() -> None:
    never = 1e12  # a threshold no queue reaches
    lam, s, c, patience = 0.25, 10.0, 2, 20.0
    assert mmc_balk_renege(lam, s, c, never, patience).p_renege == pytest.approx(
        erlang_a_abandonment_probability(lam, 1 / s, c, 1 / patience), rel=1e-9
    )
    plain = mmc_balk_renege(0.16, s, c, never)
    assert plain.queue_length == pytest.approx(mmc_mean_queue_length(0.16, 1 / s, c), rel=1e-7)
    assert plain.mean_wait_joined == pytest.approx(mmc_mean_wait(0.16, 1 / s, c), rel=1e-7)
    assert plain.p_balk < 1e-9


def test_balking_chain_refuses_a_truncated_law() -> None:
    with pytest.raises(ValueError):
        stationary(lambda n: np.full(n.shape, 2.0), lambda n: np.ones(n.shape), n_max=100)

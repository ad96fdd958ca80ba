"""Exact queueing-theory formulas used as oracles by the statistical tests.

Nothing here simulates anything: every function is a closed form or an exact
(truncated, with a rigorous tail bound) solve of a birth-death chain.

Notation: ``lam`` is the arrival rate, ``mu`` the service rate per server,
``c`` the number of servers, ``theta`` the abandonment (patience) rate.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "erlang_a_abandonment_probability",
    "erlang_a_mean_wait",
    "erlang_a_stationary_distribution",
    "erlang_a_wait_probability",
    "erlang_b",
    "erlang_c_wait_probability",
    "md1_mean_wait",
    "mg1_mean_wait",
    "mmc_mean_queue_length",
    "mmc_mean_wait",
    "mmc_wait_variance",
]


def _check_rates(lam: float, mu: float, c: int) -> None:
    if not (lam > 0 and mu > 0):
        raise ValueError(f"rates must be positive, got lam={lam}, mu={mu}")
    if int(c) != c or c < 1:
        raise ValueError(f"c must be a positive integer, got {c}")


def _check_stable(lam: float, mu: float, c: int) -> None:
    _check_rates(lam, mu, c)
    if lam >= c * mu:
        raise ValueError(f"unstable queue: lam={lam} >= c*mu={c * mu}")


def erlang_b(a: float, c: int) -> float:
    """Erlang B blocking probability for offered load ``a`` on ``c`` servers.

    Uses the stable recursion ``B(k) = a B(k-1) / (k + a B(k-1))``.

    Parameters
    ----------
    a : float
        Offered load ``lam / mu`` (Erlangs).
    c : int
        Number of servers.

    Returns
    -------
    float
        Blocking probability of M/M/c/c.
    """
    if a <= 0:
        raise ValueError(f"offered load must be positive, got {a}")
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c_wait_probability(lam: float, mu: float, c: int) -> float:
    """Probability that an arrival has to wait in a stable M/M/c queue.

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.

    Returns
    -------
    float
        Erlang C probability ``P(W > 0)``.
    """
    _check_stable(lam, mu, c)
    a = lam / mu
    rho = a / c
    b = erlang_b(a, c)
    return b / (1.0 - rho * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue ``Wq`` for FCFS M/M/c.

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.

    Returns
    -------
    float
        ``C(c, a) / (c mu - lam)``.
    """
    return erlang_c_wait_probability(lam, mu, c) / (c * mu - lam)


def mmc_mean_queue_length(lam: float, mu: float, c: int) -> float:
    """Mean number waiting in queue ``Lq`` for M/M/c (``lam * Wq``).

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.

    Returns
    -------
    float
        Mean queue length excluding those in service.
    """
    return lam * mmc_mean_wait(lam, mu, c)


def mmc_wait_variance(lam: float, mu: float, c: int) -> float:
    """Variance of the FCFS M/M/c waiting time in queue.

    ``W`` is 0 with probability ``1 - C`` and ``Exp(c mu - lam)`` with
    probability ``C``, so ``Var W = C (2 - C) / (c mu - lam)**2``.

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.

    Returns
    -------
    float
        Variance of the time spent waiting before service.
    """
    cw = erlang_c_wait_probability(lam, mu, c)
    return cw * (2.0 - cw) / (c * mu - lam) ** 2


def mg1_mean_wait(lam: float, mean_s: float, var_s: float) -> float:
    """Pollaczek-Khinchine mean wait in queue for M/G/1.

    Parameters
    ----------
    lam : float
        Arrival rate.
    mean_s : float
        Mean service time.
    var_s : float
        Variance of the service time.

    Returns
    -------
    float
        ``lam E[S^2] / (2 (1 - rho))`` with ``rho = lam E[S]``.
    """
    if lam <= 0 or mean_s <= 0 or var_s < 0:
        raise ValueError("need lam > 0, mean_s > 0, var_s >= 0")
    rho = lam * mean_s
    if rho >= 1:
        raise ValueError(f"unstable queue: rho={rho} >= 1")
    return lam * (var_s + mean_s**2) / (2.0 * (1.0 - rho))


def md1_mean_wait(lam: float, service_time: float) -> float:
    """Mean wait in queue for M/D/1 (Pollaczek-Khinchine with zero variance).

    Parameters
    ----------
    lam : float
        Arrival rate.
    service_time : float
        Deterministic service time.

    Returns
    -------
    float
        ``lam s^2 / (2 (1 - lam s))``.
    """
    return mg1_mean_wait(lam, service_time, 0.0)


def erlang_a_stationary_distribution(
    lam: float, mu: float, c: int, theta: float, tol: float = 1e-12
) -> np.ndarray:
    """Stationary distribution of the number in system for M/M/c+M.

    The chain has birth rate ``lam`` and death rate
    ``min(n, c) mu + max(n - c, 0) theta``. It is solved in log space and
    truncated at the first ``N`` whose (geometrically bounded) tail mass is
    below ``tol``; the returned vector is renormalised over ``0..N``.

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.
    theta : float
        Abandonment rate (mean patience ``1 / theta``), must be positive.
    tol : float, optional
        Bound on the neglected probability mass.

    Returns
    -------
    numpy.ndarray
        ``p[n]`` for ``n = 0..N``.
    """
    _check_rates(lam, mu, c)
    if not theta > 0:
        raise ValueError(f"theta must be positive, got {theta}")
    n_max = max(2 * c, c + 64)
    while True:
        n = np.arange(1, n_max + 1, dtype=float)
        death = np.minimum(n, c) * mu + np.maximum(n - c, 0.0) * theta
        log_p = np.concatenate(([0.0], np.cumsum(math.log(lam) - np.log(death))))
        log_total = np.logaddexp.reduce(log_p)
        # Death rates are non-decreasing, so beyond N the ratios p[k+1]/p[k] are
        # at most r = lam / d(N + 1) and the tail is <= p[N] r / (1 - r).
        r = lam / (min(n_max + 1, c) * mu + max(n_max + 1 - c, 0) * theta)
        if r < 1.0:
            log_tail = log_p[-1] + math.log(r) - math.log1p(-r)
            if log_tail - log_total < math.log(tol):
                return np.exp(log_p - log_total)
        n_max *= 2


def _erlang_a_excess_mean(lam: float, mu: float, c: int, theta: float) -> float:
    p = erlang_a_stationary_distribution(lam, mu, c, theta)
    excess = np.maximum(np.arange(p.size) - c, 0)
    return float(np.dot(p, excess))


def erlang_a_abandonment_probability(lam: float, mu: float, c: int, theta: float) -> float:
    """Probability that an arrival abandons in M/M/c+M (Erlang A).

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.
    theta : float
        Abandonment rate of waiting customers.

    Returns
    -------
    float
        ``theta E[(N - c)^+] / lam`` (abandonment flow over arrival flow).
    """
    return theta * _erlang_a_excess_mean(lam, mu, c, theta) / lam


def erlang_a_mean_wait(lam: float, mu: float, c: int, theta: float) -> float:
    """Mean time in queue over all arrivals (served or abandoning) in M/M/c+M.

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.
    theta : float
        Abandonment rate of waiting customers.

    Returns
    -------
    float
        ``E[(N - c)^+] / lam`` by Little's law.
    """
    return _erlang_a_excess_mean(lam, mu, c, theta) / lam


def erlang_a_wait_probability(lam: float, mu: float, c: int, theta: float) -> float:
    """Probability that an arrival finds all servers busy in M/M/c+M (PASTA).

    Parameters
    ----------
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.
    theta : float
        Abandonment rate of waiting customers.

    Returns
    -------
    float
        ``P(N >= c)``.
    """
    p = erlang_a_stationary_distribution(lam, mu, c, theta)
    return float(p[c:].sum())

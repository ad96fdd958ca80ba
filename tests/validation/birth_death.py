"""Exact M/M/c queues with balking and reneging, solved as birth-death chains.

The engine's balking rule: a party arriving when ``q`` parties wait for ``c`` lanes of
mean service ``s`` expects to wait ``q s / c`` and balks if that exceeds its own draw
``B`` (here exponential with mean ``balk_mean``). With Poisson arrivals, exponential
service and exponential patience (rate ``theta``) the number in system ``N`` is then a
birth-death chain with

    birth(n) = lam * P(B >= q(n) s / c),   q(n) = max(n - c, 0),
    death(n) = min(n, c) mu + q(n) theta,

and every measure below follows from its stationary law and PASTA. The queue an
arrival sees, ``q(n)``, can be replaced to price plausible bugs (counting those in
service, or the arriving party itself) for the tests' power statements.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def stationary(
    birth: Callable[[np.ndarray], np.ndarray],
    death: Callable[[np.ndarray], np.ndarray],
    n_max: int = 4000,
) -> np.ndarray:
    """Stationary law of a birth-death chain on ``0..n_max``, solved in log space.

    Raises if more than 1e-12 of the mass sits near the truncation (the chain would
    need a larger ``n_max``, or is not positive recurrent).
    """
    n = np.arange(1, n_max + 1)
    with np.errstate(divide="ignore"):
        log_ratio = np.log(birth(n - 1)) - np.log(death(n))
    log_p = np.concatenate(([0.0], np.cumsum(log_ratio)))
    p = np.exp(log_p - np.logaddexp.reduce(log_p))
    if p[-n_max // 10 :].sum() > 1e-12:
        raise ValueError("probability mass at the truncation: raise n_max")
    return p


def waiting(n: np.ndarray, c: int) -> np.ndarray:
    """Parties waiting when ``n`` are in the system: what the engine's balking rule counts."""
    return np.maximum(n - c, 0)


@dataclass(frozen=True)
class BalkRenege:
    """Stationary measures of M/M/c with balking and reneging (per arriving party)."""

    p_balk: float  #: share of arrivals who balk
    p_renege: float  #: share of arrivals who join and then renege
    queue_length: float  #: time-average number waiting
    mean_wait_joined: float  #: mean time waiting of those who join (served or reneging)


def mmc_balk_renege(
    lam: float,
    service: float,
    lanes: int,
    balk: float,
    patience: float | None = None,
    seen: Callable[[np.ndarray, int], np.ndarray] = waiting,
) -> BalkRenege:
    """Exact M/M/c+M with the engine's balking rule and exponential balking thresholds.

    Parameters
    ----------
    lam, service, lanes
        Arrival rate, mean service time (same time unit) and lanes ``c``.
    balk
        Mean of the exponential balking threshold, in the time unit of ``service``.
    patience
        Mean exponential patience; None for no reneging.
    seen
        The queue length an arrival judges by, given the number in system and ``c``.
    """
    c = lanes
    mu = 1.0 / service
    theta = 0.0 if patience is None else 1.0 / patience

    def join(n: np.ndarray) -> np.ndarray:
        return np.exp(-seen(n, c) * service / (c * balk))

    def birth(n: np.ndarray) -> np.ndarray:
        return lam * join(n)

    def death(n: np.ndarray) -> np.ndarray:
        return np.minimum(n, c) * mu + waiting(n, c) * theta

    p = stationary(birth, death)
    n = np.arange(p.size)
    queue = float(np.dot(p, waiting(n, c)))
    joining = float(np.dot(p, birth(n)))
    return BalkRenege(
        p_balk=float(np.dot(p, 1.0 - join(n))),
        p_renege=theta * queue / lam,
        queue_length=queue,
        mean_wait_joined=queue / joining if joining > 0 else math.nan,
    )

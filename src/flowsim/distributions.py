"""Service-time, patience and party-size distributions built from their scenario specs.

Each spec (a frozen schema model) becomes a `Distribution` with an exact `mean` and
`variance` (for tests against theory), a vectorised `sample(rng, n)`, and its `law`: the
numpy method it samples with and that method's arguments (what compiled code needs to
draw the same numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from flowsim.scenario import schema


@dataclass(frozen=True, slots=True)
class Distribution:
    """A sampler with its exact first two moments."""

    mean: float
    variance: float
    sample: Callable[[np.random.Generator, int], np.ndarray]
    law: tuple[str, tuple]  #: e.g. ``("gamma", (shape, scale))``: what `sample` computes

    def sampler(self, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
        """Batch sampler bound to `rng`, for `streams.buffered`."""
        return lambda n: self.sample(rng, n)


def continuous(spec: schema.ContinuousDist, scale: float = 1.0) -> Distribution:
    """Distribution of a continuous spec, multiplied by `scale` (e.g. hours -> minutes)."""
    match spec:
        case schema.Exponential(mean=mean):
            m = mean * scale
            return Distribution(
                m, m * m, lambda rng, n: rng.exponential(m, n), ("exponential", (m,))
            )
        case schema.Fixed(value=value):
            v = value * scale
            return Distribution(v, 0.0, lambda rng, n: np.full(n, v), ("fixed", (v,)))
        case schema.Uniform(low=low, high=high):
            a, b = low * scale, high * scale
            return Distribution(
                (a + b) / 2,
                (b - a) ** 2 / 12,
                lambda rng, n: rng.uniform(a, b, n),
                ("uniform", (a, b)),
            )
        case schema.Gamma(mean=mean, cv=cv):
            m = mean * scale
            shape = 1.0 / (cv * cv)
            theta = m / shape  # the scale parameter
            return Distribution(
                m,
                (cv * m) ** 2,
                lambda rng, n: rng.gamma(shape, theta, n),
                ("gamma", (shape, theta)),
            )
        case schema.Lognormal(mean=mean, cv=cv):
            m = mean * scale
            sigma2 = math.log1p(cv * cv)
            mu = math.log(m) - sigma2 / 2
            sigma = math.sqrt(sigma2)
            return Distribution(
                m,
                (cv * m) ** 2,
                lambda rng, n: rng.lognormal(mu, sigma, n),
                ("lognormal", (mu, sigma)),
            )
    raise TypeError(f"unknown distribution spec {spec!r}")


def party_size(spec: schema.CountDist) -> Distribution:
    """Distribution of the number of persons in a party (always >= 1)."""
    match spec:
        case schema.FixedCount(value=value):
            return Distribution(
                float(value), 0.0, lambda rng, n: np.full(n, value, np.int64), ("fixed", (value,))
            )
        case schema.ShiftedPoisson(mean=mean):
            lam = mean - 1.0
            return Distribution(
                mean, lam, lambda rng, n: 1 + rng.poisson(lam, n), ("shifted_poisson", (lam,))
            )
        case schema.Categorical(values=values, weights=weights):
            v = np.asarray(values, dtype=np.int64)
            p = np.asarray(weights, dtype=float) / sum(weights)
            mean = float(v @ p)
            variance = float((v - mean) ** 2 @ p)
            cdf = p.cumsum()
            cdf /= cdf[-1]
            # What `rng.choice(v, n, p=p)` does, draw for draw, without re-checking `p` each call.
            return Distribution(
                mean,
                variance,
                lambda rng, n: v[cdf.searchsorted(rng.random(n), side="right")],
                ("categorical", (v, cdf)),
            )
    raise TypeError(f"unknown party-size spec {spec!r}")

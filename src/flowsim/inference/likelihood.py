"""How well a simulated figure explains a reported one, on a log scale.

A reported figure ``y`` is taken as the true figure ``x`` times a log-normal reporting
error: ``log1p(y) = log1p(x) + e`` with ``e ~ N(0, reporting_error^2)``. The simulated
``x`` varies over replications; its log-mean ``m`` and log-variance ``s^2`` over the
replications are combined with the reporting error: ``sigma^2 = reporting_error^2 + s^2``.
Calibration passes ``s^2`` estimated once, from a pilot run with more replications
(`model_var`): a log-variance estimated afresh from two replications at every
evaluation would make the objective jump between neighbouring points.

* exact value ``v``:      ``log N(log1p v; m, sigma)``
* lower bound ``L``:      ``log P(log1p x > log1p L) = log Phi((m - log1p L) / sigma)``
* upper bound ``H``:      ``log Phi((log1p H - m) / sigma)``
* interval ``[L, H]``:    ``log [Phi((log1p H - m)/sigma) - Phi((log1p L - m)/sigma)]``

Bounds are one-sided and cost nothing when comfortably met; an exact figure always
pulls towards itself. ``log1p`` keeps zero counts finite.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import log_ndtr, logsumexp, ndtr

from flowsim.inference.observations import Observation

#: Default log-scale standard deviation of reporting error (about 10%).
REPORTING_ERROR = 0.10


def _log_normal_pdf(z: float, sigma: float) -> float:
    return -0.5 * z * z - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def _log_interval(z_low: float, z_high: float) -> float:
    """``log(Phi(z_high) - Phi(z_low))`` for ``z_low < z_high``, accurate on both tails.

    Far in the upper tail both CDFs round to 1; there the difference is taken of the
    survival functions, ``Phi(-z_low) - Phi(-z_high)``, which `log_ndtr` keeps exact.
    """
    if z_low > 0:
        big, small = float(log_ndtr(-z_low)), float(log_ndtr(-z_high))
    else:
        big, small = float(log_ndtr(z_high)), float(log_ndtr(z_low))
    gap = -math.expm1(small - big)  # 1 - exp(small - big), without cancellation
    if gap > 0:
        return big + math.log(gap)
    # An interval too narrow for the CDFs to tell apart: density times width.
    return _log_normal_pdf(0.5 * (z_low + z_high), 1.0) + math.log(z_high - z_low)


def log_likelihood(
    obs: Observation,
    simulated: np.ndarray,
    reporting_error: float = REPORTING_ERROR,
    model_var: float | None = None,
) -> float:
    """Log-likelihood of a reported figure given its simulated values over replications.

    `model_var`, if given, is the model's log-variance for this figure, used instead of
    the spread of `simulated`.
    """
    logs = np.log1p(np.maximum(np.asarray(simulated, dtype=float), 0.0))
    logs = logs[np.isfinite(logs)]
    if logs.size == 0:
        return -1e6
    m = float(logs.mean())
    if model_var is not None:
        spread = model_var
    else:
        spread = float(logs.var(ddof=1)) if logs.size > 1 else 0.0
    sigma = math.sqrt(reporting_error**2 + spread)
    kind = obs.kind
    if kind == "exact":
        return _log_normal_pdf((math.log1p(obs.value) - m) / sigma, sigma)  # type: ignore[arg-type]
    if kind == "lower":
        return float(log_ndtr((m - math.log1p(obs.low)) / sigma))  # type: ignore[arg-type]
    if kind == "upper":
        return float(log_ndtr((math.log1p(obs.high) - m) / sigma))  # type: ignore[arg-type]
    z_low = (math.log1p(obs.low) - m) / sigma  # type: ignore[arg-type]
    z_high = (math.log1p(obs.high) - m) / sigma  # type: ignore[arg-type]
    if z_high <= z_low:  # a zero-width interval is an exact figure
        return _log_normal_pdf(z_low, sigma)
    return max(_log_interval(z_low, z_high), -1e6)


def log_likelihood_array(obs: Observation, m: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """`log_likelihood` for many log-means `m` at once, each with its own total `sigma`.

    What a posterior sampler calls at every step, for every walker: the same observation
    model on arrays, with the tails handled as in `log_likelihood`.
    """
    m, sigma = np.broadcast_arrays(np.asarray(m, dtype=float), np.asarray(sigma, dtype=float))
    kind = obs.kind
    if kind == "interval" and obs.high <= obs.low:  # type: ignore[operator]
        kind, exact = "exact", obs.low  # a zero-width interval is an exact figure
    else:
        exact = obs.value
    if kind == "exact":
        z = (math.log1p(exact) - m) / sigma  # type: ignore[arg-type]
        return -0.5 * z * z - np.log(sigma) - 0.5 * math.log(2 * math.pi)
    if kind == "lower":
        return log_ndtr((m - math.log1p(obs.low)) / sigma)  # type: ignore[arg-type]
    if kind == "upper":
        return log_ndtr((math.log1p(obs.high) - m) / sigma)  # type: ignore[arg-type]
    z_low = (math.log1p(obs.low) - m) / sigma  # type: ignore[arg-type]
    z_high = (math.log1p(obs.high) - m) / sigma  # type: ignore[arg-type]
    # Upper tail: difference of survival functions, as in `_log_interval`.
    upper = z_low > 0
    big = np.where(upper, log_ndtr(-z_low), log_ndtr(z_high))
    small = np.where(upper, log_ndtr(-z_high), log_ndtr(z_low))
    with np.errstate(divide="ignore"):
        out = big + np.log(-np.expm1(small - big))
    narrow = ~np.isfinite(out)  # too narrow for the CDFs to tell apart: density times width
    if narrow.any():
        mid = 0.5 * (z_low + z_high)
        with np.errstate(divide="ignore"):
            dens = -0.5 * mid * mid - 0.5 * math.log(2 * math.pi) + np.log(z_high - z_low)
        out = np.where(narrow, dens, out)
    return np.maximum(out, -1e6)


def log_variance(simulated: np.ndarray) -> float:
    """Log-scale variance of a figure over replications (what `model_var` expects)."""
    logs = np.log1p(np.maximum(np.asarray(simulated, dtype=float), 0.0))
    return float(logs.var(ddof=1)) if logs.size > 1 else 0.0


def predictive_quantiles(
    simulated: np.ndarray,
    probs: tuple[float, ...] = (0.05, 0.5, 0.95),
    reporting_error: float = REPORTING_ERROR,
) -> list[float]:
    """Quantiles of the figure as it would be *reported*: replications times reporting error.

    Each replication's value ``x`` becomes ``log1p(y) ~ N(log1p(x), reporting_error^2)``,
    the error model of `log_likelihood`; the predictive distribution is the equal mixture
    over replications, and its quantiles are solved exactly (no sampling). Without
    reporting error they are the replications' own quantiles. A reported count is never
    negative, so a quantile below 0 is 0.
    """
    values = np.maximum(np.asarray(simulated, dtype=float), 0.0)  # as `log_likelihood` reads them
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [math.nan] * len(probs)
    if reporting_error <= 0:
        return [float(v) for v in np.quantile(values, probs)]
    logs = np.log1p(values)
    pad = max(9 * reporting_error, 1e-6)
    low, high = logs.min() - pad, logs.max() + pad

    def quantile(p: float) -> float:
        q = brentq(lambda q: _mixture_excess(q, logs, reporting_error, p), low, high, xtol=1e-12)
        return max(0.0, math.expm1(q))

    return [quantile(p) for p in probs]


def _mixture_excess(q: float, logs: np.ndarray, sigma: float, p: float) -> float:
    """``n * (F(q) - p)`` for the mixture CDF ``F``, exact in the gaps between replications.

    Summing the CDFs directly rounds to ``k / n`` between replications far apart, where
    the root then could be anywhere in the gap. So the ``k`` replications below `q`
    count whole, less their small upper tails, plus the small lower tails of those
    above; where even those underflow, the two tails are compared on a log scale.
    """
    z = (q - logs) / sigma
    below = z >= 0
    whole = int(below.sum()) - logs.size * p
    value = whole + float(ndtr(z[~below]).sum()) - float(ndtr(-z[below]).sum())
    if value == 0.0 and abs(whole) < 1e-9:
        return float(logsumexp(log_ndtr(z[~below])) - logsumexp(log_ndtr(-z[below])))
    return value


def covered(obs: Observation, p05: float, p95: float) -> bool:
    """Whether the reported value or interval overlaps the band [p05, p95]."""
    if obs.kind == "exact":
        return p05 <= obs.value <= p95  # type: ignore[operator]
    low = obs.low if obs.low is not None else -math.inf
    high = obs.high if obs.high is not None else math.inf
    return p95 >= low and p05 <= high


def within_tolerance(obs: Observation, simulated_median: float, tolerance: float = 0.15) -> bool:
    """The quality bar: the median inside the reported bounds, or within 15% of the value."""
    if obs.kind == "exact":  # written without a division: a reported 0 is valid
        return abs(simulated_median - obs.value) <= tolerance * obs.value  # type: ignore[operator]
    low = obs.low if obs.low is not None else -math.inf
    high = obs.high if obs.high is not None else math.inf
    return low <= simulated_median <= high

"""A fast stand-in for the simulator: each simulated figure as a quadratic in the parameters.

A posterior sampler asks for the likelihood hundreds of thousands of times; the
simulator costs seconds a call. So every figure's expected log value
``m_j(u) = E log1p(x_j)`` is fitted, over the points already simulated, by a full
quadratic in the parameters' positions ``u`` in the unit cube of their bounds
(ridge-regularised least squares, centred on the best point). Each point's target is
the mean over its replications, which carries replication noise ``v_j / R`` (``v_j``:
the pilot run's log-variance). Fitting over many points averages that noise out, which a
two-replication mean at one point cannot do.

A quadratic is only the trend. What it leaves is modelled by a Gaussian process
(`ResidualProcess`), as emulators for history matching do: near simulated points the
emulator follows them, and between and beyond them its variance grows towards the
quadratic's own misfit. That variance, plus the quadratic's coefficient uncertainty
(through each point's leverage), is added to the likelihood's, so the sampler does not
trust the stand-in where it has not been checked. The choice between squares alone and
a full quadratic is made on leave-one-out residuals (exact for a linear smoother).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

RIDGE = 1e-4  #: penalty on the non-constant coefficients, relative to the design's scale


def features(units: np.ndarray, centre: np.ndarray, cross: bool) -> np.ndarray:
    """``[1, x_i, x_i x_k]`` of ``x = units - centre``, one row per point.

    With `cross`, every product ``i <= k`` (a full quadratic); else the squares alone.
    """
    x = np.atleast_2d(units) - centre
    rows, d = x.shape
    if cross:
        upper = np.triu_indices(d)
        products = (x[:, :, None] * x[:, None, :])[:, upper[0], upper[1]]
    else:
        products = x * x
    return np.hstack([np.ones((rows, 1)), x, products])


def n_features(d: int, cross: bool) -> int:
    """Coefficients of a quadratic in `d` parameters: full, or squares alone."""
    return 1 + d + (d * (d + 1) // 2 if cross else d)


#: Bounds of the residual process's length scales, in units of the parameters' ranges.
SCALE_BOUNDS = (0.05, 5.0)


@dataclass(frozen=True)
class ResidualProcess:
    """A Gaussian process over the trend's residuals, each figure standardised by its spread.

    One squared-exponential correlation with a length scale per parameter, shared by the
    figures; a share `signal` of each standardised residual is smooth in the parameters,
    the rest is noise (replication noise, and what varies faster than the design can see).
    The hyperparameters maximise the figures' joint marginal likelihood.
    """

    units: np.ndarray  #: [points, d]
    scales: np.ndarray  #: [d] length scales
    signal: float  #: share of the standardised variance that is smooth
    inverse: np.ndarray  #: [points, points] inverse covariance of the standardised residuals
    weights: np.ndarray  #: [points, figures] ``inverse @ z``
    spread: np.ndarray  #: [figures] the residuals' standard deviation

    @staticmethod
    def _correlation(a: np.ndarray, b: np.ndarray, scales: np.ndarray) -> np.ndarray:
        diff = (a[:, None, :] - b[None, :, :]) / scales
        return np.exp(-0.5 * np.einsum("ijk,ijk->ij", diff, diff))

    @classmethod
    def fit(cls, units: np.ndarray, residuals: np.ndarray) -> ResidualProcess:
        """Fit to `residuals` [points, figures] at `units` [points, d]."""
        from scipy.linalg import cho_factor, cho_solve
        from scipy.optimize import minimize

        spread = np.maximum(residuals.std(axis=0), 1e-12)
        z = residuals / spread
        n, d = units.shape

        def covariance(theta: np.ndarray) -> tuple[np.ndarray, float]:
            scales, signal = np.exp(theta[:d]), 1 / (1 + np.exp(-theta[d]))
            return signal * cls._correlation(units, units, scales) + (1 - signal) * np.eye(
                n
            ), signal

        def loss(theta: np.ndarray) -> float:
            factor = cho_factor(covariance(theta)[0], lower=True)
            log_det = 2 * np.log(np.diag(factor[0])).sum()
            return 0.5 * (z.shape[1] * log_det + float((z * cho_solve(factor, z)).sum()))

        low, high = np.log(SCALE_BOUNDS)
        theta0 = np.append(np.full(d, np.log(0.3)), 0.0)
        bounds = [(low, high)] * d + [(-4.0, 4.0)]
        theta = minimize(loss, theta0, method="L-BFGS-B", bounds=bounds).x
        matrix, signal = covariance(theta)
        inverse = np.linalg.inv(matrix)
        return cls(units, np.exp(theta[:d]), float(signal), inverse, inverse @ z, spread)

    def predict(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean [points, figures] of the smooth residual and its variance."""
        cross = self.signal * self._correlation(units, self.units, self.scales)
        mean = (cross @ self.weights) * self.spread
        explained = np.einsum("ij,jk,ik->i", cross, self.inverse, cross)
        var = np.maximum(self.signal - explained, 0.0)[:, None] * self.spread**2
        return mean, var


@dataclass(frozen=True)
class VarianceTrend:
    """One replication's log-variance of each figure: squares alone in the parameters.

    Fitted to unbiased log-variances of the points' replications (a count's variance
    changes with its level); kept within a log-unit of the values seen, so that it never
    extrapolates to a variance no point had. Without them, a constant.
    """

    centre: np.ndarray  #: [d]
    coef: np.ndarray | None  #: [features, figures], or None for `constant`
    constant: np.ndarray  #: [figures] the variance where there is no trend
    low: np.ndarray  #: [figures] least log-variance predicted
    high: np.ndarray  #: [figures] largest log-variance predicted

    @classmethod
    def fit(
        cls, units: np.ndarray, log_vars: np.ndarray, centre: np.ndarray, fallback: np.ndarray
    ) -> VarianceTrend:
        """Fit to `log_vars` [points, figures]; `fallback` [figures] if they are NaN."""
        if not np.isfinite(log_vars).all() or units.shape[0] < 2 * units.shape[1] + 2:
            log_fallback = np.log(np.maximum(fallback, 1e-12))
            return cls(centre, None, fallback, log_fallback, log_fallback)
        X = features(units, centre, cross=False)
        gram = X.T @ X
        penalty = RIDGE * np.trace(gram) / gram.shape[0] * np.eye(gram.shape[0])
        penalty[0, 0] = 0.0
        coef = np.linalg.solve(gram + penalty, X.T @ log_vars)
        low, high = log_vars.min(axis=0) - 1.0, log_vars.max(axis=0) + 1.0
        return cls(centre, coef, np.exp(log_vars.mean(axis=0)), low, high)

    def predict(self, units: np.ndarray) -> np.ndarray:
        """One replication's variance [points, figures] of each log figure."""
        if self.coef is None:
            return np.broadcast_to(
                self.constant, (np.atleast_2d(units).shape[0], self.constant.size)
            )
        logs = features(units, self.centre, cross=False) @ self.coef
        return np.exp(np.clip(logs, self.low, self.high))


@dataclass(frozen=True)
class Emulator:
    """Per-figure quadratic response surfaces of the simulated log figures."""

    ids: tuple[str, ...]  #: the figures, in column order
    centre: np.ndarray  #: [d] the point the features are centred on
    coef: np.ndarray  #: [features, figures]
    gram_inverse: np.ndarray  #: [features, features] ``(X'X + ridge)^-1``
    residual_var: np.ndarray  #: [figures] leave-one-out mean squared residual
    lack_of_fit: np.ndarray  #: [figures] of it, what replication noise does not explain
    points: int  #: simulated points fitted
    cross: bool  #: a full quadratic, or squares alone
    noise_var: np.ndarray  #: [figures] a target's variance from replication noise
    residual: ResidualProcess | None = None  #: what the quadratic leaves (`with_residual`)
    variance: VarianceTrend | None = None  #: one replication's variance (`with_variance`)
    replications: int = 1  #: replications behind each target
    #: every point's replications ran on the same streams (a calibration's common random
    #: numbers): the targets then share an error of one replication's variance over R
    common_streams: bool = True

    @classmethod
    def fit(
        cls,
        units: np.ndarray,
        targets: np.ndarray,
        noise_var: np.ndarray,
        centre: np.ndarray,
        ids: tuple[str, ...],
        cross: bool,
    ) -> Emulator:
        """Fit `targets` [points, figures] at `units` [points, d].

        `noise_var` [figures] is the variance of a target from replication noise alone.
        """
        X = features(units, centre, cross)
        gram = X.T @ X
        penalty = RIDGE * np.trace(gram) / gram.shape[0] * np.eye(gram.shape[0])
        penalty[0, 0] = 0.0
        gram_inverse = np.linalg.inv(gram + penalty)
        coef = gram_inverse @ X.T @ targets
        leverage = np.einsum("ij,jk,ik->i", X, gram_inverse, X)
        loo = (targets - X @ coef) / np.maximum(1.0 - leverage, 1e-6)[:, None]
        residual_var = (loo**2).mean(axis=0)
        lack_of_fit = np.maximum(residual_var - noise_var, 0.0)
        return cls(
            ids,
            centre,
            coef,
            gram_inverse,
            residual_var,
            lack_of_fit,
            units.shape[0],
            cross,
            noise_var,
        )

    def with_variance(
        self, units: np.ndarray, log_vars: np.ndarray, pilot_var: np.ndarray, replications: int
    ) -> Emulator:
        """The emulator with a `VarianceTrend` (of targets from `replications` each)."""
        trend = VarianceTrend.fit(units, log_vars, self.centre, pilot_var)
        return replace(self, variance=trend, replications=replications)

    def model_var(self, units: np.ndarray) -> np.ndarray:
        """One replication's variance [points, figures] of each log figure."""
        if self.variance is None:
            shape = (np.atleast_2d(units).shape[0], self.noise_var.size)
            return np.broadcast_to(self.noise_var * self.replications, shape)
        return self.variance.predict(units)

    def with_residual(self, units: np.ndarray, targets: np.ndarray) -> Emulator:
        """The emulator with a `ResidualProcess` fitted to its residuals at `units`."""
        X = features(units, self.centre, self.cross)
        process = ResidualProcess.fit(units, targets - X @ self.coef)
        return replace(self, residual=process)

    def predict(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean [points, figures] of each log figure and the emulator's variance of it."""
        X = features(units, self.centre, self.cross)
        leverage = np.einsum("ij,jk,ik->i", X, self.gram_inverse, X)
        if self.residual is None:
            var = self.lack_of_fit[None, :] + leverage[:, None] * self.residual_var[None, :]
            return X @ self.coef, var
        mean, var = self.residual.predict(np.atleast_2d(units))
        return X @ self.coef + mean, var + leverage[:, None] * self.noise_var[None, :]

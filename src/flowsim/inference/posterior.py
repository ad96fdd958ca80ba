"""The posterior of the calibrated parameters, sampled on an emulator refined in waves.

A simulation costs seconds, so the likelihood cannot be simulated at every step of a
sampler. The posterior is found in waves instead (the logic of history matching):

1. the point fit's evaluations (Nelder–Mead) are the first evidence;
2. an emulator (`flowsim.inference.emulator`) is fitted to the evidence, and an ensemble
   MCMC (emcee) samples the posterior it implies: a uniform prior on the bounds, times the
   observation model of `flowsim.inference.likelihood` with the variance
   ``reporting_error^2 + model variance + emulator variance``;
3. a wave of draws from that posterior is simulated, on the same seeds as every other
   evaluation, and joins the evidence; the emulator is refitted where the posterior is.

The last emulator gives the posterior: `POSTERIOR_DRAWS` draws, in random order, so that
the first ``n`` are a sample of it. Every wave is a deterministic function of the seed and
of the evidence before it, so a resumed calibration replays the waves from the log and
continues the same computation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowsim.inference.emulator import Emulator, n_features
from flowsim.inference.likelihood import log_likelihood_array
from flowsim.inference.observations import Observation

POSTERIOR_DRAWS = 1000  #: rows of ``posterior.csv``
WALKERS_PER_PARAMETER = 4
MIN_WALKERS = 32
BURN_STEPS = 600
KEEP_STEPS = 1500  #: steps kept per walker for a wave's draws
FINAL_BURN = 2000  #: the posterior's chain starts from the last wave's walkers, and burns these
FINAL_STEPS = 30000  #: steps kept for the posterior itself (differential-evolution moves)
CHUNK_STEPS = 2000  #: a chain with a deadline looks at the clock this often
MIN_CHAIN = 50  #: a chain shorter than this many autocorrelation times is doubtful (emcee)
WAVE_MIN = 10  #: points simulated per wave, at least (else twice the parameters)
MIN_ESS = 200  #: below this effective sample size the posterior is reported as doubtful
#: Evidence kept for the emulator: points within this loss of the best (a log-likelihood
#: drop of 40 is far outside any credible region), and never fewer than `MIN_EVIDENCE`.
LOSS_WINDOW = 40.0
MIN_EVIDENCE = 30
VARIANCE_FLOOR = 1e-8  #: least log-variance of a figure over replications
#: A full quadratic is tried once there are this many more points than its coefficients.
SPARE_POINTS = 20
CREDIBLE = 0.90
#: "Moved by the data": a 90% interval at most this share of the prior's, or away from its centre.
MOVED_WIDTH = 0.75


@dataclass(frozen=True)
class Evidence:
    """The points simulated so far: positions, mean log figures and losses."""

    units: np.ndarray  #: [points, d]
    targets: np.ndarray  #: [points, figures] mean of log1p(simulated) over replications
    log_vars: np.ndarray  #: [points, figures] unbiased log of their variance (NaN with one)
    losses: np.ndarray  #: [points] the objective at each point
    ids: tuple[str, ...]  #: figure ids, the columns of `targets`

    @classmethod
    def from_records(cls, records: Sequence[dict], ids: Sequence[str]) -> Evidence:
        """Evidence from evaluation-log records (each point once, in the order given)."""
        seen: dict[tuple, dict] = {}
        for record in records:
            seen.setdefault(tuple(record["unit"]), record)
        rows = list(seen.values())
        if not rows:
            empty = np.empty((0, len(ids)))
            return cls(np.empty((0, 0)), empty, empty, np.empty(0), tuple(ids))
        logs = np.array(
            [[np.log1p(np.maximum(r["simulated"][i], 0.0)) for i in ids] for r in rows],
            dtype=float,
        ).reshape(len(rows), len(ids), -1)  # [points, figures, replications]
        return cls(
            np.array([r["unit"] for r in rows], dtype=float).reshape(len(rows), -1),
            logs.mean(axis=2),
            unbiased_log_variance(logs),
            np.array([r["loss"] for r in rows], dtype=float),
            tuple(ids),
        )

    def subset(self, chosen: np.ndarray) -> Evidence:
        """The points at indices `chosen`."""
        return Evidence(self.units[chosen], self.targets[chosen], self.log_vars[chosen],
                        self.losses[chosen], self.ids)  # fmt: skip

    def nearest_the_best(self) -> Evidence:
        """The points within `LOSS_WINDOW` of the best loss (at least `MIN_EVIDENCE`)."""
        order = np.argsort(self.losses, kind="stable")
        keep = max(int((self.losses <= self.losses.min() + LOSS_WINDOW).sum()), MIN_EVIDENCE)
        return self.subset(np.sort(order[:keep]))


def unbiased_log_variance(logs: np.ndarray) -> np.ndarray:
    """``log`` of the variance over the last axis, corrected for the bias of a log.

    With ``k = n - 1`` degrees of freedom, ``E log s^2 = log sigma^2 + psi(k/2) - log(k/2)``;
    the correction makes a regression on two-replication variances unbiased on a log scale.
    A variance of 0 (identical replications) is floored at `VARIANCE_FLOOR`.
    """
    from scipy.special import digamma

    n = logs.shape[-1]
    if n < 2:
        return np.full(logs.shape[:-1], np.nan)
    k = n - 1
    variance = np.maximum(logs.var(axis=-1, ddof=1), VARIANCE_FLOOR)
    return np.log(variance) - (digamma(k / 2) - math.log(k / 2))


def fit_emulator(evidence: Evidence, pilot_var: np.ndarray, replications: int) -> Emulator:
    """The emulator: a quadratic trend and a process over its residuals.

    The trend is squares alone or a full quadratic, whichever has the smaller
    leave-one-out error (weighed per figure by its replication noise), centred on the
    best point. One replication's variance of each figure is a trend of its own, fitted
    to the points' replications (the pilot run's `pilot_var` with a single replication).
    """
    local = evidence.nearest_the_best()
    centre = local.units[int(np.argmin(local.losses))]
    d = local.units.shape[1]
    noise_var = pilot_var / replications
    candidates = [Emulator.fit(local.units, local.targets, noise_var, centre, local.ids, False)]
    if local.units.shape[0] >= n_features(d, True) + SPARE_POINTS:
        candidates.append(
            Emulator.fit(local.units, local.targets, noise_var, centre, local.ids, True)
        )
    scale = np.maximum(noise_var, 1e-8)
    trend = min(candidates, key=lambda e: float((e.residual_var / scale).sum()))
    fitted = trend.with_residual(local.units, local.targets)
    return fitted.with_variance(local.units, local.log_vars, pilot_var, replications)


@dataclass(frozen=True)
class EmulatedLikelihood:
    """Log posterior density (up to a constant) on the unit cube, through an emulator."""

    emulator: Emulator
    observations: tuple[Observation, ...]  #: in the emulator's figure order
    reporting_error: float

    def __call__(self, units: np.ndarray) -> np.ndarray:
        """Log density at each row of `units` (``-inf`` outside the bounds)."""
        units = np.atleast_2d(units)
        inside = np.all((units >= 0.0) & (units <= 1.0), axis=1)
        out = np.full(units.shape[0], -np.inf)
        if not inside.any():
            return out
        mean, emulator_var = self.emulator.predict(units[inside])
        # The evidence's replications share their streams at every point (common random
        # numbers): the emulator follows their mean, which is off the expectation by a
        # common error of variance model_var / R. The truth is one more replication.
        model_var = self.emulator.model_var(units[inside])
        shared = 1 / self.emulator.replications if self.emulator.common_streams else 0.0
        spread = model_var * (1 + shared) + emulator_var
        sigma = np.sqrt(self.reporting_error**2 + spread)
        total = np.zeros(mean.shape[0])
        for j, obs in enumerate(self.observations):
            total += log_likelihood_array(obs, mean[:, j], sigma[:, j])
        out[inside] = total
        return out


@dataclass(frozen=True)
class Chain:
    """What the sampler returned: draws after burn-in, and how independent they are."""

    draws: np.ndarray  #: [kept steps * walkers, d], step-major
    autocorrelation: np.ndarray  #: [d] integrated autocorrelation time, in steps
    acceptance: float  #: mean acceptance fraction of the walkers
    walkers: int

    @property
    def last(self) -> np.ndarray:
        """The walkers' positions at the last step [walkers, d]."""
        return self.draws[-self.walkers :]

    @property
    def steps(self) -> int:
        """Steps kept per walker."""
        return self.draws.shape[0] // self.walkers

    @property
    def effective_size(self) -> np.ndarray:
        """Effective sample size per parameter: draws over autocorrelation time."""
        steps = self.draws.shape[0] / self.walkers
        return self.walkers * steps / np.maximum(self.autocorrelation, 1.0)

    def spread(self, count: int, seed: int) -> np.ndarray:
        """`count` draws, evenly spaced over the chain, in an order shuffled by `seed`."""
        picks = np.linspace(0, self.draws.shape[0] - 1, count).round().astype(int)
        return self.draws[np.random.default_rng(seed).permutation(picks)]


def sample(
    log_density: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    seed: int,
    burn: int = BURN_STEPS,
    steps: int = KEEP_STEPS,
    initial: np.ndarray | None = None,
    mixing: bool = False,
    deadline: float | None = None,
) -> Chain:
    """Sample `log_density` with emcee's affine-invariant ensemble, started around `start`.

    The walkers start in a small ball about `start` (inside the bounds), or at `initial`
    (one row per walker); the random state comes from `seed`, so the chain is the same
    on every run. With `mixing`, the walkers move by differential evolution (80%) and
    its snooker variant (20%) instead of the stretch move: on the historical posterior
    (13 parameters) that cuts the autocorrelation time about 2.5-fold. With a `deadline`
    (`time.monotonic()`), the chain stops early, in chunks of `CHUNK_STEPS`, once it is
    passed (keeping at least one chunk after the burn-in): a time budget is kept.
    """
    import emcee

    d = start.size
    walkers = max(MIN_WALKERS, WALKERS_PER_PARAMETER * d)
    walkers += walkers % 2
    rng = np.random.default_rng(seed)
    if initial is None or initial.shape != (walkers, d):
        initial = start + 0.01 * rng.standard_normal((walkers, d))
    initial = np.clip(initial, 1e-6, 1 - 1e-6)
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)] if mixing else None
    sampler = emcee.EnsembleSampler(walkers, d, log_density, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(seed % 2**32).get_state()
    state = sampler.run_mcmc(initial, burn + min(steps, CHUNK_STEPS), progress=False)
    done, chunk_seconds = min(steps, CHUNK_STEPS), 0.0
    while done < steps and (deadline is None or time.monotonic() + chunk_seconds < deadline):
        started = time.monotonic()
        state = sampler.run_mcmc(state, min(CHUNK_STEPS, steps - done), progress=False)
        done += min(CHUNK_STEPS, steps - done)
        chunk_seconds = 1.5 * (time.monotonic() - started)  # the next one, with a margin
    chain = sampler.get_chain(discard=burn)  # [steps, walkers, d]
    tau = sampler.get_autocorr_time(discard=burn, tol=0, quiet=True)
    return Chain(
        chain.reshape(-1, d),
        np.nan_to_num(np.asarray(tau, dtype=float), nan=float(steps)),
        float(np.mean(sampler.acceptance_fraction)),
        walkers,
    )


@dataclass(frozen=True)
class PosteriorFit:
    """The posterior draws and how they were found."""

    draws: np.ndarray  #: [POSTERIOR_DRAWS, d] positions in the unit cube, in random order
    chain: Chain
    emulator: Emulator  #: the last one, fitted to all the evidence
    waves: int  #: waves of posterior draws simulated
    check: dict  #: `emulator_check` pooled over the waves, each by the emulator before it
    evidence: int  #: points simulated in all

    def doubt(self) -> str:
        """Why the posterior is not to be trusted as it stands ("" if nothing is known)."""
        if self.waves == 0:
            return "no wave of posterior draws was simulated: the budget went to the point fit"
        worst = float(self.chain.effective_size.min())
        if worst < MIN_ESS:
            return f"the sampler's effective sample size is only {worst:.0f}"
        tau = float(self.chain.autocorrelation.max())
        if self.chain.steps < MIN_CHAIN * tau:
            return (
                f"the sampler's chain is {self.chain.steps / tau:.0f} autocorrelation times "
                f"long, under the {MIN_CHAIN} its estimate needs"
            )
        return ""

    def diagnostics(self) -> dict:
        """What ``posterior.json`` records."""
        return {
            "draws": int(self.draws.shape[0]),
            "waves": self.waves,
            "simulated_points": self.evidence,
            "emulator": {
                "points_fitted": self.emulator.points,
                "full_quadratic": self.emulator.cross,
                "figures": list(self.emulator.ids),
                "lack_of_fit_sd": [float(math.sqrt(v)) for v in self.emulator.lack_of_fit],
            },
            "emulator_check": self.check,
            "sampler": {
                "walkers": self.chain.walkers,
                "acceptance": self.chain.acceptance,
                "autocorrelation_steps": [float(t) for t in self.chain.autocorrelation],
                "effective_sample_size": [float(e) for e in self.chain.effective_size],
            },
        }


def parameter_rows(params: Sequence, draws: np.ndarray, chain: Chain) -> list[dict]:
    """A row of ``parameters.csv`` per parameter: prior, posterior median and interval."""
    tail = (1 - CREDIBLE) / 2
    rows = []
    for i, p in enumerate(params):
        values = p.lower + draws[:, i] * (p.upper - p.lower)
        low, median, high = np.quantile(values, [tail, 0.5, 1 - tail])
        span = p.upper - p.lower
        prior_low, prior_high = p.lower + tail * span, p.upper - tail * span
        width_ratio = (high - low) / (prior_high - prior_low)
        centre = p.lower + 0.5 * span
        moved = bool(width_ratio <= MOVED_WIDTH or not low <= centre <= high)
        rows.append(
            {
                "name": p.name,
                "lower": p.lower,
                "upper": p.upper,
                "start": p.start,
                "prior_ci_low": prior_low,
                "prior_ci_high": prior_high,
                "post_median": median,
                "post_ci_low": low,
                "post_ci_high": high,
                "width_ratio": width_ratio,
                "ess": float(chain.effective_size[i]),
                "moved_by_data": moved,
                "source": p.source,
            }
        )
    return rows


def posterior_frame(params: Sequence, draws: np.ndarray) -> pd.DataFrame:
    """``posterior.csv``: a row per draw, the parameters on their own scale."""
    frame = pd.DataFrame(
        {p.name: p.lower + draws[:, i] * (p.upper - p.lower) for i, p in enumerate(params)}
    )
    frame.insert(0, "draw", np.arange(len(frame)))
    return frame


def standardised_errors(emulator: Emulator, evidence: Evidence) -> np.ndarray:
    """``(simulated - predicted) / sd`` at points simulated after `emulator` was fitted.

    About N(0, 1) if the emulator's variance is honest; much wider means it claims more
    than it knows.
    """
    mean, var = emulator.predict(evidence.units)
    noise = emulator.model_var(evidence.units) / emulator.replications
    return ((evidence.targets - mean) / np.sqrt(var + noise)).ravel()


def emulator_check(errors: np.ndarray) -> dict:
    """Summary of standardised errors: root mean square (about 1) and share within 2 sd."""
    if errors.size == 0:
        return {"values": 0}
    return {
        "values": int(errors.size),
        "rms_standardised_error": float(math.sqrt(float(np.mean(errors**2)))),
        "share_within_2sd": float(np.mean(np.abs(errors) <= 2)),
    }

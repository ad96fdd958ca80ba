"""How the statistical validation tests decide: tolerances from replications, and their power.

Each replication (a long run from an empty system, on its own random streams) gives one
estimate; over ``R`` replications the mean has standard error ``s / sqrt(R)`` and
``(mean - truth) / SE`` follows Student's t with ``R - 1`` degrees of freedom. A check
passes if the estimate is within ``k`` standard errors of the truth, with ``k`` the t
quantile of a two-sided false-alarm probability ``ALPHA`` (k = 5.9 for 12
replications, 4.9 for 20).

Power is asserted, not hoped for: each check names plausible bugs (a service time one
minute too long, the wrong queue discipline, a balking rule that counts the parties in
service, ...) and the value theory gives under each. A bug must move the truth by at
least ``2 k`` standard errors; then the buggy engine's estimate lands within the
tolerance only if its own error exceeds ``k`` SE, so the bug fails the check with
probability at least ``1 - ALPHA / 2``. A check whose replications are too few for
that fails with "no power" even when the engine is right.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats

#: Two-sided false-alarm probability of one check on a correct engine.
ALPHA = 1e-4


def tolerance(df: float) -> float:
    """Half-width of the acceptance band, in standard errors."""
    return float(stats.t.isf(ALPHA / 2, df))


def assert_matches(
    estimates: np.ndarray, theory: float, what: str, bugs: Mapping[str, float]
) -> None:
    """Replication estimates agree with theory, and would not agree under any of `bugs`."""
    estimates = np.asarray(estimates, dtype=float)
    mean = estimates.mean()
    se = estimates.std(ddof=1) / np.sqrt(estimates.size)
    k = tolerance(estimates.size - 1)
    _assert_power(what, theory, se, k, bugs)
    assert abs(mean - theory) < k * se, (
        f"{what}: engine {mean:.5g} ± {se:.3g} (SE) vs theory {theory:.5g}, "
        f"{(mean - theory) / se:+.1f} SE (tolerance {k:.1f} SE)"
    )


def assert_agree(
    ours: np.ndarray, theirs: np.ndarray, what: str, bugs: Mapping[str, float], reference: float
) -> None:
    """Two simulators' replication estimates agree (Welch), and would not under `bugs`.

    `bugs` maps a bug to the value theory gives with it, `reference` is the value
    without: the shift between them is what the comparison must be able to see.
    """
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    v1, v2 = ours.var(ddof=1) / ours.size, theirs.var(ddof=1) / theirs.size
    se = np.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (ours.size - 1) + v2**2 / (theirs.size - 1))
    k = tolerance(df)
    _assert_power(what, reference, se, k, bugs)
    diff = ours.mean() - theirs.mean()
    assert abs(diff) < k * se, (
        f"{what}: flowsim {ours.mean():.5g} vs Ciw {theirs.mean():.5g}, {diff / se:+.1f} SE "
        f"(tolerance {k:.1f} SE)"
    )


def _assert_power(what: str, theory: float, se: float, k: float, bugs: Mapping[str, float]) -> None:
    for bug, value in bugs.items():
        shift = abs(value - theory) / se
        assert shift >= 2 * k, (
            f"{what}: no power against {bug!r} (shift {shift:.1f} SE, need {2 * k:.1f})"
        )


def power(estimates: np.ndarray, theory: float, bugs: Mapping[str, float]) -> dict[str, float]:
    """Shift of each bug in standard errors (for writing the power statements)."""
    se = np.asarray(estimates, dtype=float).std(ddof=1) / np.sqrt(len(estimates))
    return {bug: abs(value - theory) / se for bug, value in bugs.items()}

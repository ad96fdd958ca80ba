"""Holding reported figures against a run: the fit table and its summary."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowsim.inference.likelihood import (
    REPORTING_ERROR,
    covered,
    log_likelihood,
    predictive_quantiles,
    within_tolerance,
)
from flowsim.inference.observations import Observation, simulate_observation, status
from flowsim.results import RunResult
from flowsim.timebase import Clock

#: Status of a figure the simulation leaves undefined in every replication.
UNDEFINED = "undefined_in_simulation"
FIT_COLUMNS = [
    "id",
    "metric",
    "value",
    "low",
    "high",
    "sim_p05",
    "sim_p50",
    "sim_p95",
    "log_error",
    "covered",
    "pred_p05",
    "pred_p50",
    "pred_p95",
    "covered_pred",
    "status",
]


#: The first quoted words of a note: ``'over 8,000 each day': ...`` gives ``over 8,000 each day``.
QUOTED = re.compile(r"'(.+?)'(?=[\s:;,.)]|$)")


def reported_wording(note: str) -> str:
    """The words the source used, as the observations file quotes them first in its note."""
    quoted = QUOTED.search(note)
    return quoted.group(1) if quoted else ""


def simulated_values(result: RunResult, observations: list[Observation]) -> dict[str, np.ndarray]:
    """The simulated figure of every modelled observation, per replication."""
    clock = Clock(result.scenario.horizon.start, result.scenario.horizon.end)
    return {
        obs.id: simulate_observation(obs, result.hourly, clock)
        for obs in observations
        if status(obs, clock) == "ok"
    }


def fit_table(
    observations: list[Observation],
    simulated: dict[str, np.ndarray],
    clock: Clock,
    reporting_error: float = REPORTING_ERROR,
    held_out: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """One row per observation: reported, simulated quantiles, log error, coverage, status.

    ``sim_p05..sim_p95`` are quantiles of the simulated figure over replications;
    ``pred_p05..pred_p95`` those of the figure as it would be reported (the replications
    with the reporting error), and ``covered_pred`` whether the report falls in that band.

    `held_out` names the figures the scenario was not calibrated on (column ``held_out``).
    """
    rows = []
    for obs in observations:
        row = {
            "id": obs.id,
            "metric": obs.metric,
            "value": obs.value,
            "low": obs.low,
            "high": obs.high,
            "sim_p05": np.nan,
            "sim_p50": np.nan,
            "sim_p95": np.nan,
            "log_error": np.nan,
            "covered": np.nan,
            "pred_p05": np.nan,
            "pred_p50": np.nan,
            "pred_p95": np.nan,
            "covered_pred": np.nan,
            "status": status(obs, clock),
            "country": "+".join(obs.countries),
            "checkpoint": "+".join(obs.checkpoints) if len(obs.checkpoints) <= 3 else "",
            "start": obs.start.isoformat(),
            "end": obs.end.isoformat(),
            "kind": obs.kind,
            "within_tolerance": np.nan,
            "log_likelihood": np.nan,
            "source": obs.source,
            "wording": reported_wording(obs.note),
            "held_out": obs.id in held_out,
        }
        sims = simulated.get(obs.id)
        if row["status"] == "ok" and sims is not None and not np.isfinite(sims).any():
            row["status"] = UNDEFINED  # e.g. the mean wait of a window in which nobody entered
        if row["status"] == "ok" and sims is not None:
            p05, p50, p95 = (float(v) for v in np.nanquantile(sims, [0.05, 0.5, 0.95]))
            pred05, pred50, pred95 = predictive_quantiles(sims, reporting_error=reporting_error)
            row.update(
                sim_p05=p05,
                sim_p50=p50,
                sim_p95=p95,
                log_error=figure_log_error(obs, p50),
                covered=covered(obs, p05, p95),
                pred_p05=pred05,
                pred_p50=pred50,
                pred_p95=pred95,
                covered_pred=covered(obs, pred05, pred95),
                within_tolerance=within_tolerance(obs, p50),
                log_likelihood=log_likelihood(obs, sims, reporting_error),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def figure_log_error(obs: Observation, simulated_median: float) -> float:
    """The log error against a figure; 0 for a bare bound (no value) that the median keeps.

    ("At most 8,050" is not missed by a median of 2,300: only a bound crossed is an error.)
    """
    bare_low = obs.value is None and obs.high is None
    bare_high = obs.value is None and obs.low is None
    if (bare_low and simulated_median >= obs.low) or (bare_high and simulated_median <= obs.high):
        return 0.0
    return log_error(obs.reported, simulated_median)


def log_error(reported: float, simulated_median: float) -> float:
    """``log(simulated / reported)``; where either is 0, on the likelihood's ``log1p`` scale.

    (A ratio to 0, or of 0, would be infinite: 0 refusals against 1 simulated is not.)
    """
    if reported > 0 and simulated_median > 0:
        return math.log(simulated_median / reported)
    return math.log1p(simulated_median) - math.log1p(reported)


@dataclass(frozen=True)
class FitSummary:
    """Headline figures of a fit table."""

    observations: int
    modelled: int
    median_abs_log_error: float
    coverage: float
    within_tolerance: float
    log_likelihood: float

    undefined: int = 0
    coverage_pred: float = math.nan

    def lines(self) -> list[str]:
        """Human-readable summary."""
        undefined = f", {self.undefined} undefined in the simulation" if self.undefined else ""

        def show(value: float, spec: str) -> str:
            return format(value, spec) if math.isfinite(value) else "undefined"

        return [
            f"observations: {self.observations} ({self.modelled} modelled{undefined})",
            f"median |log error|: {show(self.median_abs_log_error, '.3f')}",
            f"coverage of the 90% band: {show(self.coverage, '.0%')} of the simulated figure, "
            f"{show(self.coverage_pred, '.0%')} of the figure as reported (with reporting error)",
            f"within reported bounds or 15% of the value: {show(self.within_tolerance, '.0%')}",
            f"log-likelihood: {show(self.log_likelihood, '.2f')}",
        ]


def summarize_fit(table: pd.DataFrame) -> FitSummary:
    """Median |log error| and coverage over the modelled observations."""
    ok = table[table["status"] == "ok"]
    return FitSummary(
        observations=len(table),
        modelled=len(ok),
        median_abs_log_error=float(ok["log_error"].abs().median()) if len(ok) else math.nan,
        coverage=float(ok["covered"].astype(float).mean()) if len(ok) else math.nan,
        within_tolerance=float(ok["within_tolerance"].astype(float).mean())
        if len(ok)
        else math.nan,
        log_likelihood=float(ok["log_likelihood"].sum()) if len(ok) else math.nan,
        undefined=int((table["status"] == UNDEFINED).sum()),
        coverage_pred=float(ok["covered_pred"].astype(float).mean()) if len(ok) else math.nan,
    )


#: Groups of figures the fit is also summarised over: a name and a row filter.
FIT_GROUPS = (
    ("all", lambda t: t["id"] == t["id"]),
    ("seed reports (S...)", lambda t: t["id"].str.startswith("S")),
    ("more reports (R-...)", lambda t: t["id"].str.startswith("R-")),
    ("entries", lambda t: t["metric"] == "entries"),
    ("departures", lambda t: t["metric"] == "departures"),
    ("refusals", lambda t: t["metric"].isin(["refusals", "turned_back"])),
    (
        "queues and waits",
        lambda t: t["metric"].isin(["queue_vehicles", "queue_km", "wait_hours", "car_wait_hours"]),
    ),
)
#: With figures held out of the calibration, the fit also on each side of the split.
HOLDOUT_GROUPS = (
    ("tuned on", lambda t: ~t["held_out"]),
    ("held out", lambda t: t["held_out"]),
)


def fit_breakdown(table: pd.DataFrame) -> pd.DataFrame:
    """The fit summarised per group of figures (`FIT_GROUPS`), modelled figures only."""
    rows = []
    split = "held_out" in table and bool(table["held_out"].any())
    for name, select in FIT_GROUPS + (HOLDOUT_GROUPS if split else ()):
        part = table[select(table) & (table["status"] == "ok")]
        if part.empty:
            continue
        errors = part["log_error"].abs()
        rows.append(
            {
                "group": name,
                "figures": len(part),
                "median_abs_log_error": float(errors.median()),
                "max_abs_log_error": float(errors.max()),
                "coverage": float(part["covered"].astype(float).mean()),
                "coverage_pred": float(part["covered_pred"].astype(float).mean()),
                "within_tolerance": float(part["within_tolerance"].astype(float).mean()),
                "log_likelihood": float(part["log_likelihood"].sum()),
            }
        )
    return pd.DataFrame(rows)


def breakdown_lines(breakdown: pd.DataFrame) -> list[str]:
    """The breakdown as aligned text lines."""
    lines = [
        f"{'group':<22} {'n':>3} {'median|le|':>10} {'max|le|':>8} {'cover':>6} "
        f"{'c.pred':>6} {'loglik':>9}"
    ]
    for r in breakdown.itertuples():
        lines.append(
            f"{r.group:<22} {r.figures:>3} {r.median_abs_log_error:>10.3f} "
            f"{r.max_abs_log_error:>8.3f} {r.coverage:>6.0%} {r.coverage_pred:>6.0%} "
            f"{r.log_likelihood:>9.2f}"
        )
    return lines


def validate(
    result: RunResult,
    observations: list[Observation],
    reporting_error: float = REPORTING_ERROR,
    held_out: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """The fit table of a run against observations (`held_out`: ids not calibrated on)."""
    clock = Clock(result.scenario.horizon.start, result.scenario.horizon.end)
    simulated = simulated_values(result, observations)
    return fit_table(observations, simulated, clock, reporting_error, held_out)

"""Holding reported figures against a run: the fit table and its summary."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowsim.likelihood import REPORTING_ERROR, covered, log_likelihood, within_tolerance
from flowsim.observations import Observation, simulate_observation, status
from flowsim.results import RunResult
from flowsim.timebase import Clock

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
) -> pd.DataFrame:
    """One row per observation: reported, simulated quantiles, log error, coverage, status."""
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
        }
        sims = simulated.get(obs.id)
        if row["status"] == "ok" and sims is not None:
            p05, p50, p95 = (float(v) for v in np.nanquantile(sims, [0.05, 0.5, 0.95]))
            row.update(
                sim_p05=p05,
                sim_p50=p50,
                sim_p95=p95,
                log_error=math.log(max(p50, 1e-9) / obs.reported),
                covered=covered(obs, p05, p95),
                within_tolerance=within_tolerance(obs, p50),
                log_likelihood=log_likelihood(obs, sims, reporting_error),
            )
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FitSummary:
    """Headline figures of a fit table."""

    observations: int
    modelled: int
    median_abs_log_error: float
    coverage: float
    within_tolerance: float
    log_likelihood: float

    def lines(self) -> list[str]:
        """Human-readable summary."""
        return [
            f"observations: {self.observations} ({self.modelled} modelled)",
            f"median |log error|: {self.median_abs_log_error:.3f}",
            f"coverage of the 90% band: {self.coverage:.0%}",
            f"within reported bounds or 15% of the value: {self.within_tolerance:.0%}",
            f"log-likelihood: {self.log_likelihood:.2f}",
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
        log_likelihood=float(ok["log_likelihood"].sum()),
    )


def validate(
    result: RunResult, observations: list[Observation], reporting_error: float = REPORTING_ERROR
) -> pd.DataFrame:
    """The fit table of a run against observations."""
    clock = Clock(result.scenario.horizon.start, result.scenario.horizon.end)
    return fit_table(observations, simulated_values(result, observations), clock, reporting_error)

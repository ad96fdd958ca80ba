"""Replications of one-checkpoint scenarios and the per-replication estimates the checks use."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from builders import build, single_checkpoint

from flowsim.monitor import FLOW_METRICS
from flowsim.runner import simulate
from flowsim.scenario import Scenario

DAYS = 30
REPLICATIONS = 20
SEED = 11


@dataclass(frozen=True)
class Estimates:
    """One value per replication."""

    wait: np.ndarray  #: mean queue wait of those served (min)
    wait_joined: np.ndarray  #: mean queue wait of all who joined, served or reneging (min)
    length: np.ndarray  #: time-average number waiting
    rate: np.ndarray  #: parties joining per minute
    balked: np.ndarray  #: share of arrivals who balked
    reneged: np.ndarray  #: share of arrivals who reneged
    sojourn_sq: np.ndarray  #: mean squared time from arrival to admission (min²), with `trace`


def queue(
    lam: float,
    service: float | None,
    lanes: int,
    *,
    days: int = DAYS,
    fixed: float | None = None,
    balk: float | None = None,
    patience: float | None = None,
) -> Scenario:
    """Poisson arrivals (per minute) of parties of one at one checkpoint; times in minutes.

    Service is exponential with mean `service`, or fixed at `fixed`; `balk` and
    `patience` are the means of exponential balking thresholds and patiences.
    """
    return build(
        single_checkpoint(
            arrivals_per_hour=lam * 60,
            lanes=lanes,
            days=days,
            service_minutes={"dist": "fixed", "value": fixed}
            if fixed
            else {"dist": "exponential", "mean": service},
            balk_hours={"dist": "exponential", "mean": balk / 60} if balk else None,
            patience_hours={"dist": "exponential", "mean": patience / 60} if patience else None,
        )
    )


def estimates(
    scenario: Scenario,
    replications: int = REPLICATIONS,
    days: int = DAYS,
    trace: bool = False,
    seed: int = SEED,
) -> Estimates:
    """Run `replications` replications of `scenario` and estimate from each."""
    horizon = days * 1440.0
    arrivals, balked, reneged = (FLOW_METRICS.index(m) for m in ("arrivals", "balked", "reneged"))
    rows = []
    for r in range(replications):
        out = simulate(scenario, seed=seed, replication=r, trace=trace)
        s = next(s for s in out.stage_stats if s.stage == "exit")
        flows = out.flows[:, 0, :].sum(axis=1)
        joined = s.served + s.reneged
        queued = s.wait_minutes_served + s.wait_minutes_reneged + s.wait_minutes_still_waiting
        # trace rows: (party, checkpoint, mode, persons, arrived_minute, minute, outcome)
        sojourns = np.array([t[5] - t[4] for t in out.trace or () if t[6] == "entries"])
        rows.append(
            (
                s.wait_minutes_served / s.served,
                queued / joined,
                s.queue_area / horizon,
                joined / horizon,
                flows[balked] / flows[arrivals],
                flows[reneged] / flows[arrivals],
                np.mean(sojourns**2) if trace else math.nan,
            )
        )
    return Estimates(*np.array(rows).T)

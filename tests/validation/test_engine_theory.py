"""The queue engine against queueing theory (one checkpoint, Poisson arrivals, parties of one).

Every check compares the mean of R replication estimates with an exact value and has a
tolerance of k standard errors (k from Student's t for a false alarm of 1e-4, see
`replications.py`); every check also names the bugs it catches and asserts that each
moves the exact value by at least 2k standard errors. The numbers in the comments are
those shifts measured at the seeds used (they move a little with the engine's draws).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from birth_death import mmc_balk_renege, waiting
from builders import build, single_checkpoint
from engine_runs import estimates, queue
from queueing_theory import (
    erlang_a_abandonment_probability,
    md1_mean_wait,
    mg1_mean_wait,
    mmc_mean_queue_length,
    mmc_mean_wait,
    mmc_wait_variance,
)
from replications import assert_matches

from flowsim.runner import simulate


def wq(lam: float, service: float, lanes: int) -> float:
    """Erlang C mean wait; infinite where the queue would be unstable (a bug's value)."""
    return mmc_mean_wait(lam, 1 / service, lanes) if lam * service < lanes else math.inf


def fcfs_sojourn_sq(lam: float, service: float, lanes: int) -> float:
    """E[(W + S)²] for FCFS M/M/c: W and S independent, E[S²] = 2 s²."""
    w = mmc_mean_wait(lam, 1 / service, lanes)
    return mmc_wait_variance(lam, 1 / service, lanes) + w**2 + 2 * w * service + 2 * service**2


def lifo_sojourn_sq(lam: float, service: float, lanes: int) -> float:
    """The same under last-come-first-served: a wait is then a busy period of an M/M/1
    with rates (lam, c mu), whose second moment is FCFS's divided by 1 - rho."""
    w = mmc_mean_wait(lam, 1 / service, lanes)
    w2 = mmc_wait_variance(lam, 1 / service, lanes) + w**2
    rho = lam * service / lanes
    return w2 / (1 - rho) + 2 * w * service + 2 * service**2


@pytest.mark.parametrize(
    ("lam", "service", "lanes"),
    [(0.16, 10.0, 2), (0.45, 6.0, 3), (0.7, 5.0, 4), (1.2, 4.0, 6)],
    ids=["MM2-rho.8", "MM3-rho.9", "MM4-rho.875", "MM6-rho.8"],
)
def test_mmc_waits_and_queue_lengths_match_erlang_c(lam, service, lanes):
    """Power, in SE at these seeds (need 2k = 9.8): a service 5% too long shifts Wq by 14, 32,
    32, 40 SE (Lq alike); a service 1 minute too long shifts MM2 by 37 SE and makes the other
    three unstable; one lane fewer makes MM2 to MM4 unstable and shifts MM6 by 718 SE. The
    queue discipline leaves mean waits alone, so the mean squared time to admission E[T²] is
    checked too: serving the last arrival first would shift it by 59, 119, 105, 87 SE.
    """
    est = estimates(queue(lam, service, lanes), trace=True)
    longer = {
        "service 1 min too long": wq(lam, service + 1, lanes),
        "service 5% too long": wq(lam, 1.05 * service, lanes),
        "one lane fewer": wq(lam, service, lanes - 1),
    }
    assert_matches(est.wait, wq(lam, service, lanes), "Wq", longer)
    assert_matches(
        est.length,
        mmc_mean_queue_length(lam, 1 / service, lanes),
        "Lq",
        {bug: lam * w for bug, w in longer.items()},
    )
    assert_matches(
        est.sojourn_sq,
        fcfs_sojourn_sq(lam, service, lanes),
        "E[T²]",
        {"last come first served": lifo_sojourn_sq(lam, service, lanes)},
    )
    # Little's law within each replication: up to the end effects, the time-average
    # queue is the rate of joining times the mean wait.
    np.testing.assert_allclose(est.length, est.rate * est.wait, rtol=0.03)


def test_mmc_at_utilisation_095_matches_erlang_c():
    """Heavy traffic: long runs, as the queue forgets its empty start slowly (relaxation ~ days).

    Power (need 2k = 10.4): a service 2% (12 s) too long shifts Wq and Lq by 18 SE; 1 minute
    too long makes the queue unstable."""
    lam, service, lanes, days = 0.38, 10.0, 4, 150
    est = estimates(queue(lam, service, lanes, days=days), replications=16, days=days)
    bugs = {
        "service 2% too long": wq(lam, service * 1.02, lanes),
        "service 1 min too long": wq(lam, service + 1, lanes),
    }
    assert_matches(est.wait, wq(lam, service, lanes), "Wq", bugs)
    assert_matches(
        est.length,
        mmc_mean_queue_length(lam, 1 / service, lanes),
        "Lq",
        {bug: lam * w for bug, w in bugs.items()},
    )
    np.testing.assert_allclose(est.length, est.rate * est.wait, rtol=0.03)


def test_little_identity_is_exact_on_the_horizon():
    """Area under the queue-length path = total time queued (served, reneged, still waiting)."""
    scenario = build(
        single_checkpoint(
            arrivals_per_hour=12,
            service_minutes={"dist": "gamma", "mean": 9.0, "cv": 0.7},
            lanes=2,
            days=10,
            patience_hours={"dist": "exponential", "mean": 0.5},
        )
    )
    out = simulate(scenario, seed=3, replication=0)
    s = next(s for s in out.stage_stats if s.stage == "exit")
    total = s.wait_minutes_served + s.wait_minutes_reneged + s.wait_minutes_still_waiting
    assert s.reneged > 100
    assert s.queue_area == pytest.approx(total, rel=1e-9)


def test_reneging_matches_erlang_a_abandonment():
    """M/M/c+M: exponential patience; P(abandon) against the Erlang A birth-death chain.

    Power (need 9.8): a service 1 minute too long shifts P(abandon) by 23 SE; a patience 30%
    too short (14 instead of 20 minutes), by 11 SE (20% too short would be 7 SE: not caught).
    """
    lam, service, lanes, patience = 0.25, 10.0, 2, 20.0
    est = estimates(queue(lam, service, lanes, patience=patience))

    def abandon(service: float = service, patience: float = patience) -> float:
        return erlang_a_abandonment_probability(lam, 1 / service, lanes, 1 / patience)

    assert_matches(
        est.reneged,
        abandon(),
        "P(abandon)",
        {
            "service 1 min too long": abandon(service=service + 1),
            "patience 30% too short": abandon(patience=0.7 * patience),
        },
    )


#: M/M/2, 10-minute services, offered 0.25 parties a minute (1.25 Erlangs per lane);
#: exponential balking thresholds with mean 20 minutes.
BALKING = {"lam": 0.25, "service": 10.0, "lanes": 2, "balk": 20.0}


def balking_bugs(patience: float | None = None) -> dict:
    """What plausible bugs in the balking rule would give, exactly."""

    def exact(seen=waiting, **change):
        return mmc_balk_renege(**{**BALKING, "patience": patience, **change}, seen=seen)

    return {
        "counts parties in service": exact(seen=lambda n, c: n),
        "counts the arriving party": exact(seen=lambda n, c: np.maximum(n - c + 1, 0)),
        "service 1 min too long": exact(service=BALKING["service"] + 1),
        **({"patience 20% too short": exact(patience=0.8 * patience)} if patience else {}),
    }


def test_balking_matches_the_exact_chain():
    """M/M/2 offered 1.25 Erlangs per lane, kept stable by balking alone.

    A party balks if the queue's expected wait, parties waiting x mean service / lanes,
    exceeds its exponential threshold (mean 20 min). Power (need 9.8): judging by the
    parties in the system instead of those waiting shifts P(balk) by 52 SE; counting the
    arriving party itself, by 20 SE; a service 1 min too long, by 25 SE (Lq: 73, 41, 12 SE).
    """
    est = estimates(queue(**BALKING))
    exact, bugs = mmc_balk_renege(**BALKING), balking_bugs()
    assert_matches(est.balked, exact.p_balk, "P(balk)", {b: v.p_balk for b, v in bugs.items()})
    assert_matches(
        est.length, exact.queue_length, "Lq", {b: v.queue_length for b, v in bugs.items()}
    )
    assert_matches(
        est.wait_joined,
        exact.mean_wait_joined,
        "Wq of those who joined",
        {"counts parties in service": bugs["counts parties in service"].mean_wait_joined},
    )


def test_balking_and_reneging_match_the_exact_chain():
    """Balking as above and reneging (exponential patience, mean 30 min) together.

    Power (need 9.8): the bugs of the balking test shift P(balk) by 137, 60, 27 SE; the
    share reneging catches parties in service counted (92 SE), a service 1 min too long (15)
    and a patience 20% too short (25 SE).
    """
    patience = 30.0
    est = estimates(queue(**BALKING, patience=patience))
    exact, bugs = mmc_balk_renege(**BALKING, patience=patience), balking_bugs(patience)
    assert_matches(
        est.balked,
        exact.p_balk,
        "P(balk)",
        {b: v.p_balk for b, v in bugs.items() if b != "patience 20% too short"},
    )
    assert_matches(
        est.reneged,
        exact.p_renege,
        "P(renege)",
        {b: v.p_renege for b, v in bugs.items() if b != "counts the arriving party"},
    )
    assert_matches(
        est.length,
        exact.queue_length,
        "Lq",
        {"service 1 min too long": bugs["service 1 min too long"].queue_length},
    )


def test_md1_mean_wait_matches_pollaczek_khinchine():
    """Fixed service times. Power (need 9.8): a service 1 minute too long (11 min) shifts Wq by
    37 SE; service drawn at random (exponential) instead of fixed doubles Wq, 36 SE."""
    lam, service = 0.08, 10.0
    est = estimates(queue(lam, None, 1, fixed=service))
    assert_matches(
        est.wait,
        md1_mean_wait(lam, service),
        "Wq",
        {
            "service 1 min too long": md1_mean_wait(lam, service + 1),
            "service exponential": mg1_mean_wait(lam, service, service**2),
        },
    )


def test_time_varying_arrivals_match_their_expected_counts():
    """Weekday and hour-of-day factors: persons setting out per hour of the day vs the exact mean.

    Per hour of the day the count over R replications is Poisson (parties of one person)
    with the mean the demand model integrates; the sum of the 24 squared z-scores is
    chi-square with 24 degrees of freedom and must stay under 60 (p ~ 5e-5). Power: the
    same profile shifted by one hour gives a statistic in the thousands.
    """
    from flowsim.demand import persons_per_step
    from flowsim.timebase import Clock

    hourly = [
        0.3,
        0.2,
        0.2,
        0.2,
        0.3,
        0.6,
        1.0,
        1.4,
        1.6,
        1.6,
        1.5,
        1.4,
        1.3,
        1.3,
        1.3,
        1.3,
        1.3,
        1.3,
        1.2,
        1.1,
        1.0,
        0.8,
        0.6,
        0.4,
    ]
    data = single_checkpoint(
        arrivals_per_hour=30, service_minutes={"dist": "exponential", "mean": 1.0}, lanes=4, days=14
    )
    data["demand"]["hourly_factors"] = hourly
    data["demand"]["weekday_factors"] = [0.9, 0.9, 0.95, 1.0, 1.15, 1.5, 1.1]
    data["demand"]["timezone"] = "Europe/Moscow"
    scenario = build(data)
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    per_step = persons_per_step(scenario, clock)[0, 0]  # baseline, the one origin, per quarter hour
    expected_hourly = per_step.reshape(-1, 4).sum(
        axis=1
    )  # per simulated hour (starts at local midnight)
    replications = 6
    observed = sum(
        simulate(scenario, seed=2, replication=r).origin_flows[0, 0] for r in range(replications)
    )
    by_hour_of_day = observed.reshape(-1, 24).sum(axis=0)
    expected = replications * expected_hourly.reshape(-1, 24).sum(axis=0)
    chi2 = (((by_hour_of_day - expected) ** 2) / expected).sum()
    assert chi2 < 60, chi2
    shifted = np.roll(expected, 1)
    assert (((by_hour_of_day - shifted) ** 2) / shifted).sum() > 1000

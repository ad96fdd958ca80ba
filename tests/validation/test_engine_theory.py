"""The queue engine against queueing theory (single checkpoint, Poisson arrivals).

Tolerances come from the replications themselves: each replication gives one
estimate; across R independent replications the standard error is s/sqrt(R), and we
require |mean - theory| < 4 SE (a false alarm about once in 16,000 runs for a
correct model). Each test also asserts SE < 5% of the theory value, so that an error
of about 20% in the engine (e.g. one lane too many or too few, service time off by
one in the units) would be detected: the test has power, not just a wide band.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import build, single_checkpoint
from queueing_theory import (
    erlang_a_abandonment_probability,
    md1_mean_wait,
    mmc_mean_queue_length,
    mmc_mean_wait,
)

from flowsim.runner import simulate

DAYS = 30
REPLICATIONS = 12


def _stage_estimates(scenario, replications: int = REPLICATIONS, days: int = DAYS):
    """Per replication: mean queue wait (min), time-average queue length, arrival rate (/min)."""
    horizon = days * 1440.0
    waits, lengths, rates, abandon = [], [], [], []
    for r in range(replications):
        out = simulate(scenario, seed=11, replication=r)
        stats = next(s for s in out.stage_stats if s.stage == "exit")
        joined = stats.served + stats.reneged
        waits.append(stats.wait_minutes_served / stats.served)
        lengths.append(stats.queue_area / horizon)
        rates.append(joined / horizon)
        abandon.append(stats.reneged / joined)
    return np.array(waits), np.array(lengths), np.array(rates), np.array(abandon)


def _assert_close(estimates: np.ndarray, theory: float) -> None:
    mean = estimates.mean()
    se = estimates.std(ddof=1) / np.sqrt(estimates.size)
    assert se < 0.05 * theory, f"test has no power: SE {se:.4g} vs theory {theory:.4g}"
    assert abs(mean - theory) < 4 * se, f"estimate {mean:.4g} ± {se:.3g} vs theory {theory:.4g}"


@pytest.mark.parametrize(
    ("lam_per_min", "service_minutes", "lanes"),
    [(0.16, 10.0, 2), (0.45, 6.0, 3), (0.7, 5.0, 4)],
)
def test_mmc_mean_wait_and_queue_length_match_erlang_c(lam_per_min, service_minutes, lanes):
    scenario = build(
        single_checkpoint(
            arrivals_per_hour=lam_per_min * 60,
            service_minutes={"dist": "exponential", "mean": service_minutes},
            lanes=lanes,
            days=DAYS,
        )
    )
    mu = 1.0 / service_minutes
    waits, lengths, rates, _ = _stage_estimates(scenario)
    _assert_close(waits, mmc_mean_wait(lam_per_min, mu, lanes))
    _assert_close(lengths, mmc_mean_queue_length(lam_per_min, mu, lanes))
    # Little's law, L = lambda W, within each replication: the engine's time-average
    # queue must equal its arrival rate times its mean wait up to the end effects.
    np.testing.assert_allclose(lengths, rates * waits, rtol=0.03)


def test_mmc_at_utilisation_095_matches_erlang_c():
    """Heavy traffic: long runs, as the queue forgets its empty start slowly (relaxation ~ days)."""
    lam, service, lanes, days = 0.38, 10.0, 4, 150
    scenario = build(single_checkpoint(arrivals_per_hour=lam * 60, lanes=lanes, days=days,
                                       service_minutes={"dist": "exponential", "mean": service}))
    waits, lengths, rates, _ = _stage_estimates(scenario, replications=16, days=days)
    _assert_close(waits, mmc_mean_wait(lam, 1 / service, lanes))
    _assert_close(lengths, mmc_mean_queue_length(lam, 1 / service, lanes))
    np.testing.assert_allclose(lengths, rates * waits, rtol=0.03)


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
    """M/M/c+M: exponential patience; P(abandon) against the Erlang A birth-death chain."""
    lam, service, lanes, patience_min = 0.25, 10.0, 2, 20.0
    scenario = build(
        single_checkpoint(
            arrivals_per_hour=lam * 60,
            service_minutes={"dist": "exponential", "mean": service},
            lanes=lanes,
            days=DAYS,
            patience_hours={"dist": "exponential", "mean": patience_min / 60},
        )
    )
    *_, abandon = _stage_estimates(scenario)
    theory = erlang_a_abandonment_probability(lam, 1 / service, lanes, 1 / patience_min)
    _assert_close(abandon, theory)


def test_md1_mean_wait_matches_pollaczek_khinchine():
    """Fixed service times: a wrong discipline or a service drawn at random would fail this."""
    lam, service = 0.08, 10.0
    scenario = build(
        single_checkpoint(
            arrivals_per_hour=lam * 60, service_minutes={"dist": "fixed", "value": service}, lanes=1, days=DAYS
        )
    )
    waits, *_ = _stage_estimates(scenario)
    _assert_close(waits, md1_mean_wait(lam, service))


def test_time_varying_arrivals_match_their_expected_counts():
    """Weekday and hour-of-day factors: persons setting out per hour of the day against the exact mean.

    Per hour of the day the count over R replications is Poisson (parties of one person)
    with the mean the demand model integrates; the sum of the 24 squared z-scores is
    chi-square with 24 degrees of freedom and must stay under 60 (p ~ 5e-5). Power: the
    same profile shifted by one hour gives a statistic in the thousands.
    """
    from flowsim.demand import persons_per_step
    from flowsim.timebase import Clock

    hourly = [0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.5, 1.4,
              1.3, 1.3, 1.3, 1.3, 1.3, 1.3, 1.2, 1.1, 1.0, 0.8, 0.6, 0.4]
    data = single_checkpoint(arrivals_per_hour=30, service_minutes={"dist": "exponential", "mean": 1.0},
                             lanes=4, days=14)
    data["demand"]["hourly_factors"] = hourly
    data["demand"]["weekday_factors"] = [0.9, 0.9, 0.95, 1.0, 1.15, 1.5, 1.1]
    data["demand"]["timezone"] = "Europe/Moscow"
    scenario = build(data)
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    per_step = persons_per_step(scenario, clock)[0, 0]  # baseline, the one origin, per quarter hour
    expected_hourly = per_step.reshape(-1, 4).sum(axis=1)  # per simulated hour (starts at local midnight)
    replications = 6
    observed = sum(simulate(scenario, seed=2, replication=r).origin_flows[0, 0] for r in range(replications))
    by_hour_of_day = observed.reshape(-1, 24).sum(axis=0)
    expected = replications * expected_hourly.reshape(-1, 24).sum(axis=0)
    chi2 = (((by_hour_of_day - expected) ** 2) / expected).sum()
    assert chi2 < 60, chi2
    shifted = np.roll(expected, 1)
    assert (((by_hour_of_day - shifted) ** 2) / shifted).sum() > 1000

"""The engine against Ciw, an independent discrete-event library, on the same single-checkpoint workloads.

Both simulate R replications of 30 days from an empty queue; each replication gives one
estimate. The two means must agree within 4 standard errors of their difference (a false
alarm about once in 16,000 runs for two correct models). Power: the test also requires
that standard error to be under 5% of the value, so a 20% disagreement fails (at
utilisation 0.7, a service time 10% too long raises the mean wait by about 35%; one lane
too few, by several times: the last test shows such a difference is caught).
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import build, single_checkpoint

from flowsim.runner import simulate

ciw = pytest.importorskip("ciw")

DAYS = 30
HORIZON = DAYS * 1440.0
REPLICATIONS = 20


def engine(lam, service, lanes, patience=None, fixed=False):
    """Per replication: mean wait of those served (min), share who reneged, sd of waits proxy."""
    scenario = build(single_checkpoint(
        arrivals_per_hour=lam * 60,
        service_minutes={"dist": "fixed", "value": service} if fixed else {"dist": "exponential", "mean": service},
        lanes=lanes, days=DAYS,
        patience_hours={"dist": "exponential", "mean": patience / 60} if patience else None,
    ))
    waits, abandon = [], []
    for r in range(REPLICATIONS):
        stats = next(s for s in simulate(scenario, seed=5, replication=r).stage_stats if s.stage == "exit")
        waits.append(stats.wait_minutes_served / stats.served)
        abandon.append(stats.reneged / (stats.served + stats.reneged))
    return np.array(waits), np.array(abandon)


def reference(lam, service, lanes, patience=None, fixed=False, discipline=None):
    """The same per-replication estimates from Ciw."""
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)],
        service_distributions=[ciw.dists.Deterministic(value=service) if fixed
                               else ciw.dists.Exponential(rate=1 / service)],
        number_of_servers=[lanes],
        reneging_time_distributions=[ciw.dists.Exponential(rate=1 / patience)] if patience else None,
        **({"service_disciplines": [discipline]} if discipline else {}),
    )
    waits, abandon = [], []
    for r in range(REPLICATIONS):
        ciw.seed(1000 + r)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(HORIZON)
        records = sim.get_all_records()
        served = [rec.waiting_time for rec in records if rec.record_type == "service"]
        reneged = sum(rec.record_type == "renege" for rec in records)
        waits.append(np.mean(served))
        abandon.append(reneged / (len(served) + reneged))
    return np.array(waits), np.array(abandon)


def assert_agree(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    diff = ours.mean() - theirs.mean()
    se = np.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
    assert se < 0.05 * theirs.mean(), f"{what}: no power, SE {se:.3g} vs {theirs.mean():.3g}"
    assert abs(diff) < 4 * se, f"{what}: flowsim {ours.mean():.4g} vs Ciw {theirs.mean():.4g} (SE {se:.3g})"


@pytest.mark.parametrize(("lam", "service", "lanes"), [(0.35, 6.0, 3), (0.14, 10.0, 2)], ids=["MM3-rho.7", "MM2-rho.7"])
def test_mmc_mean_wait_agrees_with_ciw(lam, service, lanes):
    assert_agree(engine(lam, service, lanes)[0], reference(lam, service, lanes)[0], "mean wait")


def test_md1_mean_wait_agrees_with_ciw():
    assert_agree(engine(0.07, 10.0, 1, fixed=True)[0], reference(0.07, 10.0, 1, fixed=True)[0], "mean wait")


def test_abandonment_agrees_with_ciw():
    ours, theirs = engine(0.25, 10.0, 2, patience=20.0), reference(0.25, 10.0, 2, patience=20.0)
    assert_agree(ours[1], theirs[1], "share reneging")
    assert_agree(ours[0], theirs[0], "mean wait of the served")


def test_the_comparison_can_fail():
    """Power check: a service time 10% longer in Ciw (6.6 against 6 minutes, M/M/3) is detected."""
    ours, theirs = engine(0.35, 6.0, 3)[0], reference(0.35, 6.6, 3)[0]
    se = np.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
    assert abs(ours.mean() - theirs.mean()) > 4 * se

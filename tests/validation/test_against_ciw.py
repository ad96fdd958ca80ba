"""The engine against Ciw, an independent discrete-event library, on one-checkpoint workloads.

Both simulate 20 replications of 30 days from an empty queue, each giving one estimate.
The two means must agree within k standard errors of their difference (Welch; k from
Student's t for a false alarm of 1e-4, see `replications.py`). Power is asserted per
check: each named bug moves the exact value by at least 2k standard errors of the
difference (the shifts in the docstrings were measured at these seeds; need 2k ~ 8.8).

Ciw has only a global random state (`ciw.seed`); it is seeded per replication here, in
the tests, and nowhere in flowsim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from birth_death import mmc_balk_renege
from engine_runs import DAYS, REPLICATIONS, estimates, queue
from queueing_theory import (
    erlang_a_abandonment_probability,
    erlang_a_mean_wait,
    md1_mean_wait,
    mg1_mean_wait,
    mmc_mean_wait,
    mmc_wait_variance,
)
from replications import assert_agree

ciw = pytest.importorskip("ciw")

HORIZON = DAYS * 1440.0


@dataclass(frozen=True)
class Reference:
    """Ciw's estimates, one per replication, named as in `engine_runs.Estimates`."""

    wait: np.ndarray
    wait_joined: np.ndarray
    reneged: np.ndarray
    balked: np.ndarray
    sojourn_sq: np.ndarray


def reference(lam, service, lanes, *, fixed=None, patience=None, balk=None) -> Reference:
    """The same workload in Ciw (times in minutes)."""
    balking = None
    if balk:

        def balking(n, **_):  # Ciw passes the number at the node, in service included
            return 1.0 - math.exp(-max(n - lanes, 0) * service / (lanes * balk))

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=lam)],
        service_distributions=[
            ciw.dists.Deterministic(value=fixed)
            if fixed
            else ciw.dists.Exponential(rate=1 / service)
        ],
        number_of_servers=[lanes],
        reneging_time_distributions=[ciw.dists.Exponential(rate=1 / patience)]
        if patience
        else None,
        baulking_functions=[balking] if balk else None,
    )
    rows = []
    for r in range(REPLICATIONS):
        ciw.seed(1000 + r)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(HORIZON)
        records = sim.get_all_records()
        served = [rec for rec in records if rec.record_type == "service"]
        reneged = [rec for rec in records if rec.record_type == "renege"]
        balked = sum(rec.record_type == "baulk" for rec in records)
        arrived = len(served) + len(reneged) + balked
        rows.append(
            (
                np.mean([rec.waiting_time for rec in served]),
                np.mean([rec.waiting_time for rec in served + reneged]),
                len(reneged) / arrived,
                balked / arrived,
                np.mean([(rec.exit_date - rec.arrival_date) ** 2 for rec in served]),
            )
        )
    return Reference(*np.array(rows).T)


def _wq(lam, service, lanes):
    return mmc_mean_wait(lam, 1 / service, lanes) if lam * service < lanes else math.inf


def _sojourn_sq(lam, service, lanes, lifo=False):
    """E[T²] of FCFS M/M/c (or LIFO: the second moment of a wait divided by 1 - rho)."""
    w = mmc_mean_wait(lam, 1 / service, lanes)
    w2 = (mmc_wait_variance(lam, 1 / service, lanes) + w**2) / (
        (1 - lam * service / lanes) if lifo else 1
    )
    return w2 + 2 * w * service + 2 * service**2


@pytest.mark.parametrize(
    ("lam", "service", "lanes", "slower"),
    [(0.35, 6.0, 3, 0.05), (0.14, 10.0, 2, 0.10)],
    ids=["MM3-rho.7", "MM2-rho.7"],
)
def test_mmc_agrees_with_ciw(lam, service, lanes, slower):
    """Power: a service 1 minute too long shifts Wq by 56 and 15 SE; 5% too long by 11 SE at MM3,
    10% too long by 15 SE at MM2; serving the last arrival first shifts E[T²] by 24 and 17 SE."""
    ours, theirs = estimates(queue(lam, service, lanes), trace=True), reference(lam, service, lanes)
    assert_agree(
        ours.wait,
        theirs.wait,
        "mean wait",
        {
            "service 1 min too long": _wq(lam, service + 1, lanes),
            f"service {slower:.0%} too long": _wq(lam, (1 + slower) * service, lanes),
        },
        _wq(lam, service, lanes),
    )
    assert_agree(
        ours.sojourn_sq,
        theirs.sojourn_sq,
        "E[T²]",
        {"last come first served": _sojourn_sq(lam, service, lanes, lifo=True)},
        _sojourn_sq(lam, service, lanes),
    )


def test_md1_agrees_with_ciw():
    """Power: a service 1 minute too long shifts Wq by 14 SE; exponential service, by 25 SE."""
    lam, service = 0.07, 10.0
    ours = estimates(queue(lam, None, 1, fixed=service))
    assert_agree(
        ours.wait,
        reference(lam, service, 1, fixed=service).wait,
        "mean wait",
        {
            "service 1 min too long": md1_mean_wait(lam, service + 1),
            "service exponential": mg1_mean_wait(lam, service, service**2),
        },
        md1_mean_wait(lam, service),
    )


def test_abandonment_agrees_with_ciw():
    """Power: a service 1 minute too long shifts P(renege) by 18 SE and the mean wait of those
    who joined by 15 SE (a patience 30% too short is not caught here: under 2k SE)."""
    lam, service, lanes, patience = 0.25, 10.0, 2, 20.0
    ours, theirs = (
        estimates(queue(lam, service, lanes, patience=patience)),
        reference(lam, service, lanes, patience=patience),
    )

    def theory(formula, s=service):
        return formula(lam, 1 / s, lanes, 1 / patience)

    assert_agree(
        ours.reneged,
        theirs.reneged,
        "share reneging",
        {"service 1 min too long": theory(erlang_a_abandonment_probability, service + 1)},
        theory(erlang_a_abandonment_probability),
    )
    assert_agree(
        ours.wait_joined,
        theirs.wait_joined,
        "mean wait of those who joined",
        {"service 1 min too long": theory(erlang_a_mean_wait, service + 1)},
        theory(erlang_a_mean_wait),
    )


def test_balking_agrees_with_ciw():
    """Ciw balks with the probability the engine's rule gives, P(threshold < waiting x s / c).

    Power: judging by the parties in the system shifts P(balk) by 40 SE, counting the arriving
    party by 15 SE, a service 1 minute too long by 19 SE; the mean wait of those who joined
    by 44 and 15 SE (parties in service, service too long)."""
    lam, service, lanes, balk = 0.25, 10.0, 2, 20.0
    ours, theirs = (
        estimates(queue(lam, service, lanes, balk=balk)),
        reference(lam, service, lanes, balk=balk),
    )
    exact = mmc_balk_renege(lam, service, lanes, balk)
    bugs = {
        "counts parties in service": mmc_balk_renege(
            lam, service, lanes, balk, seen=lambda n, c: n
        ),
        "counts the arriving party": mmc_balk_renege(
            lam, service, lanes, balk, seen=lambda n, c: np.maximum(n - c + 1, 0)
        ),
        "service 1 min too long": mmc_balk_renege(lam, service + 1, lanes, balk),
    }
    assert_agree(
        ours.balked,
        theirs.balked,
        "share balking",
        {b: v.p_balk for b, v in bugs.items()},
        exact.p_balk,
    )
    assert_agree(
        ours.wait_joined,
        theirs.wait_joined,
        "mean wait of those who joined",
        {b: v.mean_wait_joined for b, v in bugs.items() if b != "counts the arriving party"},
        exact.mean_wait_joined,
    )

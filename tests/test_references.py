"""Statistical correctness of the benchmark reference implementations.

Workload: M/M/2 FCFS, lam = 1.8, mu = 1.0 (utilisation 0.9), exact mean wait
in queue Wq = C(2, 1.8) / (2 - 1.8) = 81/19 ~= 4.263 (queueing_theory).

Tolerance derivation
--------------------
Successive waits are strongly autocorrelated at rho = 0.9, so the i.i.d.
standard error is useless. We use non-overlapping batch means: the N waits
(arrival order) are cut into B = 20 batches of N / B = 30_000 travellers. The
relaxation time of this queue is about 1 / (c mu (1 - sqrt(rho))^2) ~= 190
time units ~= 340 arrivals, so batches are ~100 relaxation times long and
their means are close to i.i.d. normal. Then

    SE = sd(batch means, ddof=1) / sqrt(B),   (est - Wq) / SE ~ t_{B-1},

and we require |est - Wq| < 4 SE (false-alarm probability
2 P(t_19 > 4) ~= 7.7e-4). The bias from starting empty is O(Wq * 340 / N),
i.e. < 0.1 % of Wq, negligible against SE.

Power: we also require SE < 5 % of Wq, so the test rejects any implementation
whose mean wait is off by more than ~20 %. Measured over 40 seeds, the
relative SE is ~5 % at N = 200_000 (half the seeds fail the power bound),
~3.3 % at 400_000 and ~2.9 % (max 3.8 %) at N = 600_000, hence N = 600_000.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from queueing_theory import mmc_mean_wait

from benchmarks.references import (
    heapq_mmc,
    heapq_records_mmc,
    lane_recursion_records_mmc,
    plain_simpy_mmc,
)

LAM, MU, C = 1.8, 1.0, 2
N = 600_000
N_BATCHES = 20
SEED = 20220921


def _batch_means_check(result: dict, n: int) -> None:
    theory = mmc_mean_wait(LAM, MU, C)
    assert theory == pytest.approx(81 / 19, rel=1e-12)
    assert result["served"] == n
    waits = np.asarray(result["waits"], dtype=float)
    assert waits.shape == (n,)
    assert np.all(waits >= 0)
    est = float(waits.mean())
    assert result["mean_wait"] == pytest.approx(est, rel=1e-9)

    batch_means = waits.reshape(N_BATCHES, -1).mean(axis=1)
    se = float(batch_means.std(ddof=1)) / math.sqrt(N_BATCHES)
    assert se < 0.05 * theory, f"test lacks power: SE={se:.4f}, theory={theory:.4f}"
    assert abs(est - theory) < 4 * se, f"est={est:.4f}, theory={theory:.4f}, SE={se:.4f}"


IMPLS = [heapq_mmc, heapq_records_mmc, plain_simpy_mmc, lane_recursion_records_mmc]
IDS = ["heapq", "heapq_records", "simpy", "lane_recursion"]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_reference_mean_wait_matches_erlang_c(impl) -> None:
    result = impl(N, LAM, MU, C, SEED, return_waits=True)
    _batch_means_check(result, N)


def test_event_counts() -> None:
    n = 1_000
    assert heapq_mmc(n, LAM, MU, C, 1)["events"] == 2 * n
    assert heapq_records_mmc(n, LAM, MU, C, 1)["events"] == 2 * n
    assert lane_recursion_records_mmc(n, LAM, MU, C, 1)["events"] == 0
    events = plain_simpy_mmc(n, LAM, MU, C, 1)["events"]
    assert events is None or events > 2 * n


def test_references_share_sample_path() -> None:
    # Both draw inter-arrival and service times from random.Random(seed) in
    # the same order, so they produce the same waits: a strong cross-check of
    # FCFS semantics between the two implementations.
    n = 5_000
    a = heapq_mmc(n, LAM, MU, C, 7, return_waits=True)
    b = plain_simpy_mmc(n, LAM, MU, C, 7, return_waits=True)
    assert a["served"] == b["served"] == n
    np.testing.assert_allclose(a["waits"], b["waits"], rtol=1e-12, atol=1e-12)
    # The party records change nothing about the queue.
    assert heapq_records_mmc(n, LAM, MU, C, 7, return_waits=True)["waits"] == a["waits"]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
def test_light_load_and_single_traveller(impl) -> None:
    one = impl(1, LAM, MU, C, 3)
    assert one["served"] == 1
    assert one["mean_wait"] == 0.0
    # c >= n_travellers: a server is always free, so every wait is exactly 0.
    few = impl(5, 0.01, 100.0, 5, 3, return_waits=True)
    assert few["served"] == 5
    assert few["waits"] == [0.0] * 5


def _mmc_scenario(n: int, **changes):
    from builders import build

    from benchmarks.run import mmc_scenario_mapping

    data = mmc_scenario_mapping(n)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return build(data)


def test_event_free_what_if_reproduces_the_engine() -> None:
    # Same draws in the same order and exact FCFS lanes: only the events differ.
    from benchmarks.run import mmc_hours
    from benchmarks.what_if import EventFreeModel
    from flowsim.engine.model import Model
    from flowsim.monitor import FLOW_METRICS

    scenario = _mmc_scenario(20_000)
    engine = Model(scenario, scenario.seed, 0).run()
    what_if = EventFreeModel(scenario, scenario.seed, 0).run()
    np.testing.assert_array_equal(what_if.flows, engine.flows)
    np.testing.assert_array_equal(what_if.wait_histogram, engine.wait_histogram)
    np.testing.assert_array_equal(what_if.origin_flows, engine.origin_flows)
    np.testing.assert_array_equal(what_if.still_at_site, engine.still_at_site)
    # Entries are counted in another order, so sums of waits agree to rounding only.
    np.testing.assert_allclose(what_if.wait_person_hours, engine.wait_person_hours, rtol=1e-9)
    (a,) = [s for s in engine.stage_stats if s.stage == "exit"]
    (b,) = [s for s in what_if.stage_stats if s.stage == "exit"]
    assert (b.served, b.joined_queue, b.wait_minutes_served) == (
        a.served,
        a.joined_queue,
        a.wait_minutes_served,
    )
    # The what-if runs only the hourly demand block and snapshot; the engine adds one event
    # per arrival and one per completed exit check (parties of one, so persons = events).
    assert what_if.events == 2 * mmc_hours(20_000)
    arrivals, entries = (engine.flows[FLOW_METRICS.index(m)].sum() for m in ("arrivals", "entries"))
    assert engine.events == what_if.events + arrivals + entries


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("demand.choice.patience_hours", {"dist": "fixed", "value": 1}, "no balking or reneging"),
        ("demand.origins.home.travel_hours", {"gate": 1.0}, "no travel time"),
        (
            "checkpoints.gate.modes.car.entry.service_minutes",
            {"dist": "fixed", "value": 1},
            "an entry control that takes no time",
        ),
    ],
)
def test_event_free_what_if_refuses_other_scenarios(path, value, named) -> None:
    from benchmarks.what_if import EventFreeModel

    scenario = _mmc_scenario(1_000, **{path: value})
    with pytest.raises(ValueError, match=named):
        EventFreeModel(scenario, scenario.seed, 0)

"""Each behavioural mechanism in isolation, against a hand calculation or a fluid limit.

Queues that persist under overload, balking thresholds that grow with the distance
travelled, bans that deter from their announcement, departures after a stay, and the
warm-up. Tolerances are multiples of the Poisson standard deviation of the counts
involved.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from builders import build, single_checkpoint
from scipy import stats

import flowsim
from flowsim.engine.model import Model
from flowsim.monitor import FLOW_METRICS, STOCK_METRICS
from flowsim.runner import simulate
from flowsim.scenario.loader import deep_merge

HOUR = 60.0
SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


def overloaded(**kwargs):
    """Arrivals at 60 parties an hour against a capacity of 30 (one lane, 2 minutes each)."""
    return single_checkpoint(
        arrivals_per_hour=60.0,
        service_minutes={"dist": "fixed", "value": 2.0},
        lanes=1,
        days=2,
        **kwargs,
    )


def test_queue_under_overload_grows_and_waits_as_the_fluid_limit_says():
    # Fluid limit: the queue grows at (60 - 30) parties an hour, so at 24 h it holds 720
    # (Poisson sd of the arrivals sqrt(1440) = 38); a party arriving at s waits s hours,
    # so those admitted on day 1 (arrived in [0, 12 h]) waited 6 h on average and those of
    # day 2 (arrived in [12, 24 h]) 18 h.
    result = flowsim.run(build(overloaded()), replications=4, seed=3, workers=1, progress=False)
    daily = result.daily.set_index(["checkpoint", "metric", "date"])["mean"].sort_index()
    queue_at_24h = result.hourly.stocks[:, STOCK_METRICS.index("queue_vehicles"), 0, 24]
    assert np.all(np.abs(queue_at_24h - 720) < 5 * math.sqrt(1440))
    waits = daily.loc[("gate", "wait_hours")].to_numpy()
    assert waits[0] == pytest.approx(6.0, abs=1.0)
    assert waits[1] == pytest.approx(18.0, abs=1.5)


@pytest.mark.parametrize(
    ("sunk_cost", "travel_hours", "threshold_hours"), [(0.0, 10, 2), (0.1, 10, 4)]
)
def test_balking_threshold_grows_with_the_hours_travelled(sunk_cost, travel_hours, threshold_hours):
    # Balking at a fixed 2-hour threshold caps the expected wait (queue x 2 min / 1 lane)
    # at 2 h, i.e. 60 queued parties; with 10% more patience per hour travelled and a
    # 10-hour journey the threshold doubles, and so does the queue that persists.
    data = deep_merge(
        overloaded(balk_hours={"dist": "fixed", "value": 2.0}),
        {
            "demand": {
                "origins": {"home": {"travel_hours": {"gate": travel_hours}}},
                "choice": {"sunk_cost_per_hour": sunk_cost},
            }
        },
    )
    out = simulate(build(data), 3, 0)
    queue = out.stocks[STOCK_METRICS.index("queue_vehicles"), 0, 24:48]
    assert queue.mean() == pytest.approx(threshold_hours * HOUR / 2.0, abs=2.0)
    assert out.flows[FLOW_METRICS.index("balked")].sum() > 0


def two_borders(policies):
    """Visa holders (half the parties) choose between two equally distant countries."""
    data = single_checkpoint(
        arrivals_per_hour=400.0,
        service_minutes={"dist": "fixed", "value": 0.01},
        lanes=50,
        days=4,
        policies=policies,
    )
    other = copy.deepcopy(data["checkpoints"]["gate"])
    other["country"] = "Otherland"
    return deep_merge(
        data,
        {
            "countries": {"Otherland": {}},
            "checkpoints": {"other": other},
            "demand": {
                "origins": {"home": {"travel_hours": {"gate": 12.0, "other": 12.0}}},
                "choice": {"informed_share": 0.8},
            },
        },
    )


BAN = {
    "type": "entry_ban",
    "start": "2022-09-03T00:00:00+03:00",
    "where": {"countries": ["Testland"]},
    "attribute": "visa",
    "source": "test",
}


def test_an_announced_ban_deters_the_informed_before_it_refuses():
    # Travel takes 12 h, so once the ban is announced informed visa holders who set out
    # after start - 12 h expect to arrive after its start and go to Otherland instead.
    # Arrivals at the gate in the 12 h after the start come from parties that set out in
    # the 12 h before it: without the announcement half of all parties pick the gate; with
    # it, only non-holders and uninformed holders do: 0.5 * (0.5 + 0.5 * 0.2) = 0.3.
    plain = simulate(build(two_borders({"ban": BAN})), 11, 0)
    announced = simulate(
        build(two_borders({"ban": {**BAN, "announced": "2022-09-02T00:00:00+03:00"}})), 11, 0
    )
    arrivals = FLOW_METRICS.index("arrivals")
    start_hour = 48
    before, after = slice(0, start_hour), slice(start_hour, start_hour + 12)
    # Until the start nobody has arrived who set out after start - 12 h: the same parties.
    assert np.array_equal(plain.flows[arrivals, 0, before], announced.flows[arrivals, 0, before])
    total = plain.flows[arrivals, :, after].sum()  # both borders: everyone who set out
    expected = 0.3 * total
    observed = announced.flows[arrivals, 0, after].sum()
    assert abs(observed - expected) < 5 * math.sqrt(expected)
    assert plain.flows[arrivals, 0, after].sum() == pytest.approx(0.5 * total, rel=0.05)


def test_departures_follow_the_stay_distribution_convolved_with_the_entries():
    # Half the admitted parties return after a gamma stay (mean 2 days, cv 0.5); given
    # the entries, the departures of each hour are a sum of independent Bernoulli draws
    # whose probabilities the convolution gives.
    stay = {"dist": "gamma", "mean": 2.0, "cv": 0.5}
    data = single_checkpoint(
        arrivals_per_hour=30.0,
        service_minutes={"dist": "exponential", "mean": 1.0},
        lanes=2,
        days=8,
        extra={
            "countries": {
                "Testland": {"departures": [{"to": "return", "share": 0.5, "stay_days": stay}]}
            }
        },
    )
    out = simulate(build(data), 5, 0)
    entries = out.flows[FLOW_METRICS.index("entries"), 0]
    departures = out.flows[FLOW_METRICS.index("departures"), 0]
    n = entries.size
    dist = stats.gamma(a=4.0, scale=2.0 * 1440.0 / 4.0 / HOUR)  # in hours
    lags = np.arange(n + 1, dtype=float)
    # A party admitted in hour k (uniformly within it) leaves in hour k + j with this
    # probability (averaged over four points of the hour).
    offsets = np.array([0.125, 0.375, 0.625, 0.875])
    cdf = dist.cdf(lags[:, None] - offsets[None, :]).mean(axis=1)
    pmf = np.diff(cdf)
    expected = 0.5 * np.convolve(entries, pmf)[:n]
    days = slice(72, n)  # from day 4 on the departures are in steady state
    by_day_obs = departures[days].reshape(-1, 24).sum(axis=1)
    by_day_exp = expected[days].reshape(-1, 24).sum(axis=1)
    assert np.all(np.abs(by_day_obs - by_day_exp) < 5 * np.sqrt(by_day_exp))
    # Half of those admitted before day 6 (stays rarely exceed two days) have left.
    assert departures.sum() == pytest.approx(0.5 * entries[: 6 * 24].sum(), rel=0.1)


def test_onward_departures_are_counted_at_their_route_checkpoint():
    data = single_checkpoint(
        arrivals_per_hour=20.0,
        service_minutes={"dist": "exponential", "mean": 1.0},
        lanes=2,
        days=4,
        extra={
            "checkpoints": {
                "onward": {"country": "Testland", "timezone": "Europe/Helsinki", "modes": {}}
            },
            "countries": {
                "Testland": {
                    "departures": [
                        {"to": "onward", "share": 1.0, "stay_days": {"dist": "fixed", "value": 1}}
                    ]
                }
            },
        },
    )
    out = simulate(build(data), 2, 0)
    departures = out.flows[FLOW_METRICS.index("departures")]
    entries = out.flows[FLOW_METRICS.index("entries"), 0]
    assert departures[0].sum() == 0
    # Everyone admitted leaves exactly a day later: hour h's entries are hour h + 24's departures.
    assert np.array_equal(departures[1, 24:], entries[:-24])


def test_information_delay_shows_the_queues_of_hours_ago():
    data = deep_merge(overloaded(), {"demand": {"choice": {"information_delay_hours": 3}}})
    chooser = Model(build(data), 1, 0).chooser
    seen = [chooser._known_waits(60.0 * h, np.array([float(h)]))[0] for h in range(8)]
    assert seen == [0, 0, 0, 0, 1, 2, 3, 4]


def test_warm_up_days_are_dropped_from_the_daily_outputs():
    data = deep_merge(overloaded(), {"horizon": {"warmup_end": "2022-09-02T00:00:00+03:00"}})
    result = flowsim.run(build(data), replications=1, seed=1, workers=1, progress=False)
    assert sorted({str(d) for d in result.daily["date"]}) == ["2022-09-02"]


def test_queue_length_counts_each_mode_at_its_own_spacing():
    data = deep_merge(
        overloaded(),
        {
            "checkpoints": {
                "gate": {
                    "modes": {
                        "bus": {
                            "exit": {"lanes": 1, "service_minutes": {"dist": "fixed", "value": 1}},
                            "entry": {"lanes": 1, "service_minutes": {"dist": "fixed", "value": 1}},
                            "queue_space_m": 15,
                        },
                        "walk": {
                            "exit": {"lanes": 1, "service_minutes": {"dist": "fixed", "value": 1}},
                            "entry": {"lanes": 1, "service_minutes": {"dist": "fixed", "value": 1}},
                        },
                    }
                }
            }
        },
    )
    site = Model(build(data), 1, 0).sites[0]
    for mode, units, persons in (("car", 10, 25), ("bus", 2, 60), ("walk", 5, 5)):
        site.exit[mode].waiting_units, site.exit[mode].waiting_persons = units, persons
    site.entry["car"].waiting_units, site.entry["car"].waiting_persons = 3, 6
    vehicles, km, persons = site.queue_snapshot(0.0)
    assert (vehicles, persons) == (15, 96)  # walkers take no road space and are no vehicles
    assert km == pytest.approx((13 * 10 + 2 * 15) / 1000)  # the car spacing of `overloaded` is 10 m


def test_car_wait_hours_is_the_mean_wait_of_those_admitted_by_car():
    """The observation operator of a car-queue wait against the trace of the same run."""
    from flowsim.inference.observations import Observation, simulate_observation
    from flowsim.timebase import Clock

    scenario = flowsim.load_scenario(SMALL)
    result = flowsim.run(scenario, replications=1, seed=3, workers=1, trace=True, progress=False)
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    trace = result.trace
    entered = trace[trace.outcome == "entries"]
    for cid in scenario.checkpoints:
        here = entered[entered.checkpoint == cid]
        if here.empty:
            continue
        window = Observation(
            "w", (scenario.checkpoints[cid].country,), (cid,), "car_wait_hours",
            scenario.horizon.start, scenario.horizon.end, 1.0, None, None, "", "", 0,
        )  # fmt: skip
        waits = (here.minute - here.arrived_minute) / 60.0
        by_car = here["mode"] == "car"
        expected = (waits * here.persons)[by_car].sum() / here.persons[by_car].sum()
        simulated = simulate_observation(window, result.hourly, clock)[0]
        assert simulated == pytest.approx(expected, rel=1e-9), cid

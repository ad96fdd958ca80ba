"""Each policy type changes exactly what it should, from exactly its start time."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from builders import build, single_checkpoint

import flowsim
from flowsim.engine.rules import Rule
from flowsim.runner import simulate
from flowsim.scenario.loader import deep_merge

DAY = 1440.0
POLICY_DAY = 4  # policies start at the beginning of the 5th day
START = "2022-09-05T00:00:00+03:00"
START_MIN = POLICY_DAY * DAY


def two_borders(policies=None, **choice):
    """Two checkpoints in two countries, both reachable; uninformed travellers by default."""
    data = single_checkpoint(
        arrivals_per_hour=20,
        service_minutes={"dist": "exponential", "mean": 4.0},
        lanes=2,
        days=8,
        party_size={"dist": "shifted_poisson", "mean": 2.5},
        entry_service={"dist": "exponential", "mean": 2.0},
        entry_lanes=2,
        policies=policies,
    )
    other = copy.deepcopy(data["checkpoints"]["gate"])
    other["country"] = "Otherland"
    data = deep_merge(
        data,
        {
            "countries": {"Otherland": {}},
            "checkpoints": {"other": other},
            "demand": {
                "origins": {"home": {"travel_hours": {"gate": 0.0, "other": 1.0}}},
                "choice": {"informed_share": 0.0, **choice},
            },
        },
    )
    return data


def trace_of(data, replication=0):
    result = flowsim.run(build(data), replications=1, seed=5, workers=1, trace=True, progress=False)
    return result.trace, result


def test_entry_ban_refuses_holders_only_from_its_start():
    policy = {
        "ban": {
            "type": "entry_ban",
            "start": START,
            "where": {"countries": ["Testland"]},
            "attribute": "visa",
            "source": "test",
        }
    }
    trace, _ = trace_of(two_borders(policy))
    refusals = trace[trace.outcome == "refusals"]
    assert len(refusals) > 50
    assert refusals.minute.min() >= START_MIN
    assert refusals.minute.min() < START_MIN + 60
    assert set(refusals.checkpoint) == {"gate"}
    # a per-party attribute refuses whole parties: nobody of a refused party entered
    entered = trace[(trace.outcome == "entries") & trace.party.isin(refusals.party)]
    assert entered.empty


def test_informed_travellers_avoid_a_known_ban():
    policy = {
        "ban": {
            "type": "entry_ban",
            "start": START,
            "where": {"checkpoints": ["gate"]},
            "attribute": "visa",
            "source": "test",
        }
    }
    uninformed, _ = trace_of(two_borders(policy))
    informed, _ = trace_of(two_borders(policy, informed_share=1.0))
    n_uninformed = (uninformed.outcome == "refusals").sum()
    n_informed = (informed.outcome == "refusals").sum()
    # informed parties learn of the ban at the first information update after it
    assert n_informed < 0.05 * n_uninformed
    late = informed[(informed.outcome == "refusals") & (informed.minute > START_MIN + 120)]
    assert late.empty


def test_closure_stops_service_between_start_and_end():
    end = "2022-09-05T12:00:00+03:00"
    policy = {
        "shut": {
            "type": "closure",
            "start": START,
            "end": end,
            "checkpoint": "gate",
            "source": "test",
        }
    }
    trace, result = trace_of(two_borders(policy))
    gate = trace[(trace.checkpoint == "gate") & (trace.outcome == "entries")]
    # services started before the closure may finish: allow 3 hours of tail, far above 4+2 min means
    inside = gate[(gate.minute > START_MIN + 180) & (gate.minute < START_MIN + 720)]
    assert inside.empty
    assert (gate.minute < START_MIN).any() and (gate.minute > START_MIN + 720).any()
    queue = result.hourly_queue
    q = queue[(queue.checkpoint == "gate") & (queue.metric == "queue_vehicles")]
    closed_hours = q[(q.time_utc > pd.Timestamp(START)) & (q.time_utc < pd.Timestamp(end))]
    assert closed_hours["mean"].max() > 10


def test_access_restriction_stops_the_selected_class_only():
    policy = {
        "stop": {
            "type": "access_restriction",
            "start": START,
            "where": {"checkpoints": ["gate"]},
            "selector": {"modes": ["car"], "without": ["visa"]},
            "source": "test",
        }
    }
    trace, _ = trace_of(two_borders(policy))
    stopped = trace[trace.outcome.isin(["turned_back", "diverted"]) & (trace.checkpoint == "gate")]
    assert len(stopped) > 50
    assert stopped.minute.min() >= START_MIN
    # parties holding the attribute pass: entries at the gate continue after the start
    after = trace[
        (trace.checkpoint == "gate")
        & (trace.outcome == "entries")
        & (trace.minute > START_MIN + 60)
    ]
    assert len(after) > 50
    # with everyone holding the attribute, nobody is stopped
    everyone = deep_merge(two_borders(policy), {"attributes": {"visa": {"share": 1.0}}})
    trace_all, _ = trace_of(everyone)
    assert not trace_all.outcome.isin(["turned_back"]).any()


def test_exit_screening_turns_back_holders_after_start_and_slows_checks():
    policy = {
        "screen": {
            "type": "exit_screening",
            "start": START,
            "where": {"checkpoints": ["gate"]},
            "attribute": "man",
            "turn_back_share": 0.5,
            "extra_minutes": 3.0,
            "source": "test",
        }
    }
    trace, result = trace_of(two_borders(policy))
    turned = trace[trace.outcome == "turned_back"]
    assert len(turned) > 50
    assert turned.minute.min() >= START_MIN
    nobody = deep_merge(two_borders(policy), {"attributes": {"man": {"share": 0.0}}})
    trace_none, _ = trace_of(nobody)
    assert not (trace_none.outcome == "turned_back").any()
    waits = result.stage_stats
    base = flowsim.run(
        build(two_borders()), replications=1, seed=5, workers=1, progress=False
    ).stage_stats
    gate_exit = (waits.checkpoint == "gate") & (waits.stage == "exit")
    assert (
        waits[gate_exit].wait_minutes_served.sum() / waits[gate_exit].served.sum()
        > base[gate_exit].wait_minutes_served.sum() / base[gate_exit].served.sum()
    )


def test_capacity_change_acts_from_its_start_and_not_before():
    policy = {
        "more": {
            "type": "capacity_change",
            "start": START,
            "checkpoint": "gate",
            "mode": "car",
            "stages": ["exit"],
            "lanes": 1,
            "source": "test",
        }
    }
    data = two_borders(policy)
    with_policy = flowsim.run(build(data), replications=2, seed=5, workers=1, progress=False)
    without = flowsim.run(build(two_borders()), replications=2, seed=5, workers=1, progress=False)
    a, b = with_policy.by_replication, without.by_replication
    before = pd.Timestamp(START).date()
    pd.testing.assert_frame_equal(
        a[a.date < before].reset_index(drop=True), b[b.date < before].reset_index(drop=True)
    )
    waits_a = a[(a.date >= before) & (a.checkpoint == "gate") & (a.metric == "wait_hours")]["value"]
    waits_b = b[(b.date >= before) & (b.checkpoint == "gate") & (b.metric == "wait_hours")]["value"]
    assert waits_a.mean() > 1.8 * waits_b.mean()  # one lane instead of two at utilisation ~0.3


@pytest.mark.parametrize(
    "policy",
    [
        {"type": "entry_ban", "where": {"countries": ["Testland"]}, "attribute": "visa"},
        {"type": "closure", "checkpoint": "gate"},
        {
            "type": "exit_screening",
            "where": {"checkpoints": ["gate"]},
            "attribute": "man",
            "turn_back_share": 0.3,
            "extra_minutes": 2.0,
            "deterrence": 0.5,
        },
        {
            "type": "access_restriction",
            "where": {"checkpoints": ["gate"]},
            "selector": {"without": ["visa"]},
        },
    ],
    ids=lambda p: p["type"],
)
def test_common_random_numbers_leave_days_before_a_policy_identical(policy):
    spec = {"p": {**policy, "start": START, "source": "test"}}
    informed = {"informed_share": 0.6, "divert_share": 0.5}
    with_policy = flowsim.run(
        build(two_borders(spec, **informed)), replications=2, seed=9, workers=1, progress=False
    ).by_replication
    without = flowsim.run(
        build(two_borders(**informed)), replications=2, seed=9, workers=1, progress=False
    ).by_replication
    before = pd.Timestamp(START).date()
    a = with_policy[with_policy.date < before].reset_index(drop=True)
    b = without[without.date < before].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    after_a = with_policy[with_policy.date >= before]["value"].to_numpy()
    after_b = without[without.date >= before]["value"].to_numpy()
    assert not np.array_equal(np.nan_to_num(after_a), np.nan_to_num(after_b))


def test_same_seed_same_results_and_independent_of_workers():
    data = two_borders(
        {
            "ban": {
                "type": "entry_ban",
                "start": START,
                "where": {"countries": ["Testland"]},
                "attribute": "visa",
                "source": "test",
            }
        },
        informed_share=0.5,
    )
    scenario = build(data)
    one = flowsim.run(scenario, replications=3, seed=2, workers=1, progress=False)
    two = flowsim.run(scenario, replications=3, seed=2, workers=2, progress=False)
    pd.testing.assert_frame_equal(one.daily, two.daily)
    pd.testing.assert_frame_equal(one.by_replication, two.by_replication)
    other_seed = flowsim.run(scenario, replications=3, seed=3, workers=1, progress=False)
    assert not one.daily["mean"].equals(other_seed.daily["mean"])


def test_replications_differ_from_each_other():
    out0 = simulate(build(two_borders()), seed=1, replication=0)
    out1 = simulate(build(two_borders()), seed=1, replication=1)
    assert not np.array_equal(out0.flows, out1.flows)


@pytest.mark.parametrize("seed", range(40))
def test_what_an_informed_party_knows_of_a_rule_is_read_profile_by_profile(seed):
    """`Rule.blocks` and `Rule.deterrence` over all profiles at once, against their definition."""
    rng = np.random.default_rng(seed)
    attribute = int(rng.integers(0, 5))
    rule = Rule(
        stops_selected=bool(rng.integers(2)),
        modes=frozenset(rng.choice(["car", "bus", "foot"], int(rng.integers(1, 3)), replace=False))
        if rng.integers(2)
        else None,
        with_mask=int(rng.integers(0, 32)) & int(rng.integers(0, 32)),
        without_mask=int(rng.integers(0, 32)) & int(rng.integers(0, 32)),
        attribute=attribute if rng.integers(3) else -1,
        refuses=bool(rng.integers(2)),
        deterrence_share=float(rng.uniform()),
    )
    if rule.refuses and rule.attribute < 0:
        rule.attribute = attribute  # a refusal is always of an attribute's holders
    profiles = np.arange(32)
    for mode in ("car", "bus", "foot"):
        selected = [
            (rule.modes is None or mode in rule.modes)
            and p & rule.with_mask == rule.with_mask
            and not p & rule.without_mask
            for p in profiles.tolist()
        ]
        expected = [
            (rule.stops_selected and s) or (rule.refuses and bool(p >> rule.attribute & 1))
            for s, p in zip(selected, profiles.tolist(), strict=True)
        ]
        assert [bool(rule.selects(p, mode)) for p in profiles.tolist()] == selected
        assert rule.blocks(profiles, mode).tolist() == expected
    held = [rule.attribute >= 0 and bool(p >> rule.attribute & 1) for p in profiles]
    expected = [rule.deterrence_share if h else 0.0 for h in held]
    assert rule.deterrence(profiles).tolist() == expected

"""Conservation: every person who set out is, at the end, accounted for exactly once.

At each checkpoint: arrivals = entries + refusals + turned back + balked + reneged +
diverted + still there (queued or in service). Over the whole run: set out = stayed
home + entered + refused + turned back + balked + reneged + still at a checkpoint +
still travelling. Hypothesis draws small random scenarios with every mechanism on.
"""

from __future__ import annotations

import copy

from builders import build, single_checkpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsim.monitor import FLOW_METRICS, OUTCOME_METRICS
from flowsim.runner import simulate
from flowsim.scenario.loader import deep_merge

OUTCOMES = list(OUTCOME_METRICS)
POLICY_TIMES = [
    "2022-09-01T06:00:00+03:00",
    "2022-09-01T18:00:00+03:00",
    "2022-09-02T09:30:00+03:00",
]


@st.composite
def scenarios(draw):
    lanes = draw(st.integers(1, 3))
    data = single_checkpoint(
        arrivals_per_hour=draw(st.floats(2, 40)),
        service_minutes={"dist": "exponential", "mean": draw(st.floats(0.5, 20))},
        lanes=lanes,
        days=2,
        party_size={"dist": "shifted_poisson", "mean": draw(st.floats(1, 4))},
        patience_hours=draw(st.none() | st.just({"dist": "exponential", "mean": 1.0})),
        balk_hours=draw(st.none() | st.just({"dist": "exponential", "mean": 2.0})),
        entry_service={"dist": "exponential", "mean": draw(st.floats(0.5, 10))},
        entry_lanes=draw(st.integers(1, 3)),
    )
    other = copy.deepcopy(data["checkpoints"]["gate"])
    other["country"] = "Otherland"
    policies = {}
    start = st.sampled_from(POLICY_TIMES)
    if draw(st.booleans()):
        policies["ban"] = {
            "type": "entry_ban",
            "start": draw(start),
            "where": {"checkpoints": ["gate"]},
            "attribute": draw(st.sampled_from(["visa", "man"])),
            "source": "t",
        }
        if draw(st.booleans()):  # known to informed parties from the start
            policies["ban"]["announced"] = "2022-09-01T00:00:00+03:00"
    if draw(st.booleans()):
        policies["screen"] = {
            "type": "exit_screening",
            "start": draw(start),
            "where": {"checkpoints": ["other"]},
            "attribute": "man",
            "turn_back_share": draw(st.floats(0, 1)),
            "deterrence": draw(st.floats(0, 1)),
            "extra_minutes": 1.0,
            "source": "t",
        }
    if draw(st.booleans()):
        policies["stop"] = {
            "type": "access_restriction",
            "start": draw(start),
            "where": {"checkpoints": ["gate"]},
            "selector": {"without": ["visa"]},
            "compliance": draw(st.floats(0, 1)),
            "source": "t",
        }
    if draw(st.booleans()):
        policies["shut"] = {
            "type": "closure",
            "start": POLICY_TIMES[0],
            "end": POLICY_TIMES[1],
            "checkpoint": "other",
            "source": "t",
        }
    if draw(st.booleans()):
        policies["cap"] = {
            "type": "capacity_change",
            "start": draw(start),
            "checkpoint": "gate",
            "mode": "car",
            "lanes": draw(st.integers(0, 3)),
            "service_multiplier": draw(st.floats(0.5, 2)),
            "source": "t",
        }
    return deep_merge(
        data,
        {
            "countries": {"Otherland": {}},
            "checkpoints": {"other": other},
            "policies": policies,
            "demand": {
                "origins": {
                    "home": {
                        "travel_hours": {
                            "gate": draw(st.floats(0, 5)),
                            "other": draw(st.floats(0, 5)),
                        }
                    }
                },
                "choice": {
                    "informed_share": draw(st.floats(0, 1)),
                    "divert_share": draw(st.floats(0, 1)),
                },
            },
        },
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenarios(), replication=st.integers(0, 1000))
def test_every_person_is_accounted_for(data, replication):
    out = simulate(build(data), seed=1, replication=replication)
    totals = out.flows.sum(axis=2)
    arrivals = totals[FLOW_METRICS.index("arrivals")]
    outcomes = sum(totals[FLOW_METRICS.index(m)] for m in OUTCOMES)
    assert (arrivals == outcomes + out.still_at_site).all()
    set_out, stayed_home = out.origin_flows.sum(axis=(1, 2))
    final = sum(totals[FLOW_METRICS.index(m)].sum() for m in OUTCOMES if m != "diverted")
    assert set_out == stayed_home + final + out.still_at_site.sum() + out.in_transit
    assert (out.flows >= 0).all()

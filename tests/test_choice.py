"""Border choice: the surge can weigh countries differently from normal traffic."""

from __future__ import annotations

import math

from builders import START, build
from test_policies import two_borders

from flowsim.runner import simulate
from flowsim.scenario.loader import deep_merge


def shares_to_otherland(data, replications=3):
    """Share of persons who set out and went to Otherland (entries), per scenario."""
    other = total = 0
    for r in range(replications):
        out = simulate(build(data), seed=9, replication=r)
        entries = out.flows[1].sum(axis=1)  # [site]
        other += entries[1]
        total += entries.sum()
    return other / total


def with_surge_only(data):
    """No normal traffic: every party sets out in the surge."""
    return deep_merge(
        data,
        {
            "demand": {
                "origins": {"home": {"baseline_per_day": 0.0}},
                "surge": [
                    {"at": START, "per_day": 1200.0},
                    {"at": "2022-09-09T00:00:00+03:00", "per_day": 1200.0},
                ],
            },
        },
    )


def test_surge_attractiveness_moves_the_surge_and_only_the_surge():
    plain = two_borders()
    keen = deep_merge(plain, {"countries": {"Otherland": {"surge_attractiveness": 2.0}}})
    # Logit shares with the one-hour detour to Otherland (hours_weight 0.1): 1 / (1 + e^{0.1 - a}).
    expected_plain, expected_keen = 1 / (1 + math.exp(0.1)), 1 / (1 + math.exp(0.1 - 2.0))
    assert abs(shares_to_otherland(plain) - expected_plain) < 0.03
    # Normal traffic ignores the surge constant ...
    assert abs(shares_to_otherland(keen) - expected_plain) < 0.03
    # ... the surge follows it.
    assert abs(shares_to_otherland(with_surge_only(keen)) - expected_keen) < 0.03
    assert abs(shares_to_otherland(with_surge_only(plain)) - expected_plain) < 0.03

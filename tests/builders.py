"""Small scenarios built in Python for the tests."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from flowsim.scenario import Scenario, scenario_from_mapping

START = "2022-09-01T00:00:00+03:00"


def single_checkpoint(
    *,
    arrivals_per_hour: float,
    service_minutes: dict[str, Any],
    lanes: int,
    days: int = 20,
    party_size: dict[str, Any] | None = None,
    patience_hours: dict[str, Any] | None = None,
    balk_hours: dict[str, Any] | None = None,
    entry_service: dict[str, Any] | None = None,
    entry_lanes: int = 1,
    policies: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An M/G/c-like scenario: one origin, one checkpoint, one mode, no surge."""
    end = dt.datetime.fromisoformat(START) + dt.timedelta(days=days)
    data: dict[str, Any] = {
        "name": "single",
        "horizon": {"start": START, "end": end.isoformat()},
        "seed": 7,
        "replications": 2,
        "attributes": {
            "visa": {"share": 0.5, "per": "party"},
            "man": {"share": 0.5, "per": "person"},
        },
        "countries": {"Testland": {}},
        "checkpoints": {
            "gate": {
                "country": "Testland",
                "timezone": "Europe/Helsinki",
                "modes": {
                    "car": {
                        "exit": {"lanes": lanes, "service_minutes": service_minutes},
                        "entry": {
                            "lanes": entry_lanes,
                            "service_minutes": entry_service or {"dist": "fixed", "value": 0},
                        },
                        "queue_space_m": 10,
                    }
                },
            }
        },
        "demand": {
            "classes": {
                "car": {
                    "share": 1.0,
                    "party_size": party_size or {"dist": "fixed", "value": 1},
                    "modes": {"car": 0.0},
                }
            },
            "origins": {
                "home": {
                    "baseline_per_day": arrivals_per_hour * 24 * _mean_size(party_size),
                    "surge_share": 1.0,
                    "travel_hours": {"gate": 0.0},
                }
            },
            "choice": {
                "hours_weight": 0.1,
                "informed_share": 1.0,
                "divert_share": 0.0,
                **({"patience_hours": patience_hours} if patience_hours else {}),
                **({"balk_hours": balk_hours} if balk_hours else {}),
            },
        },
        "policies": policies or {},
    }
    if extra:
        from flowsim.scenario.loader import deep_merge

        data = deep_merge(data, extra)
    return data


def _mean_size(spec: dict[str, Any] | None) -> float:
    if not spec:
        return 1.0
    if spec["dist"] == "fixed":
        return float(spec["value"])
    if spec["dist"] == "shifted_poisson":
        return float(spec["mean"])
    raise ValueError(spec)


def build(data: dict[str, Any]) -> Scenario:
    """Validate a mapping (deep-copied) into a Scenario."""
    return scenario_from_mapping(copy.deepcopy(data))

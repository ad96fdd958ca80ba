"""Warnings: inputs that are valid but probably not what the user meant.

Errors stop a command before anything runs; these are printed (``flowsim: warning:``)
and the command goes on. Each is one line naming the file (and line, when known), the
field and the problem, in the same form as an error::

    scenarios/x.yaml:31: parameters.hours_weight: value 0.9 is above its plausible upper bound 0.5

From Python, `check_scenario` loads a file and returns its warnings;
`scenario_warnings` and `observation_warnings` check objects already loaded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from flowsim.distributions import continuous
from flowsim.errors import one_line
from flowsim.inference.observations import COUNT_METRICS, Observation, status
from flowsim.scenario.loader import load_with_origins
from flowsim.scenario.schema import (
    AccessRestriction,
    CapacityChange,
    EntryBan,
    ExitScreening,
    Scenario,
)
from flowsim.timebase import Clock

#: Maps a dotted field path to the file and line that set it.
Locator = Callable[[str], tuple[str, "int | None"]]


def check_scenario(
    path: str | Path, overrides: Iterable[str] | Mapping[str, Any] = ()
) -> tuple[Scenario, list[str]]:
    """Load a scenario file (raising `ScenarioError` if invalid) and list its warnings."""
    from flowsim.fitted_base import changed_base

    scenario, raw = load_with_origins(path, overrides)
    warnings = scenario_warnings(scenario, path, raw.locate)
    stale = changed_base(path)
    if stale:
        warnings.append(one_line(f"{path}: {stale[0]}: {stale[1]}"))
    return scenario, warnings


def scenario_warnings(
    scenario: Scenario, file: str | Path = "<scenario>", locate: Locator | None = None
) -> list[str]:
    """Parameters outside their plausible range, and policies that cannot change anything.

    `locate` (e.g. `RawScenario.locate`) names the file and line of each field;
    without it every warning names `file`.
    """
    found: list[tuple[str, str]] = []
    found += _parameter_warnings(scenario)
    found += _policy_warnings(scenario)
    found += _surge_warnings(scenario)
    found += _plausibility_warnings(scenario)
    out = []
    for field_path, problem in found:
        where, line = locate(field_path) if locate else (str(file), None)
        out.append(
            one_line(f"{where}{'' if line is None else f':{line}'}: {field_path}: {problem}")
        )
    return out


def _parameter_warnings(scenario: Scenario) -> list[tuple[str, str]]:
    out = []
    for name, p in scenario.parameters.items():
        if p.lower is not None and p.value < p.lower:
            out.append(
                (
                    f"parameters.{name}.value",
                    f"{p.value:g} is below its plausible lower bound {p.lower:g}",
                )
            )
        if p.upper is not None and p.value > p.upper:
            out.append(
                (
                    f"parameters.{name}.value",
                    f"{p.value:g} is above its plausible upper bound {p.upper:g}",
                )
            )
    return out


def _policy_warnings(scenario: Scenario) -> list[tuple[str, str]]:
    out = []
    end = scenario.horizon.end
    classes_modes = {m for c in scenario.demand.classes.values() for m in c.modes}
    countries_with_checkpoints = {cp.country for cp in scenario.checkpoints.values()}
    for pid, policy in scenario.policies.items():
        base = f"policies.{pid}"
        if policy.start >= end:
            out.append(
                (
                    f"{base}.start",
                    f"{policy.start.isoformat()} is at or after the end of the horizon "
                    f"({end.isoformat()}), so the policy never takes effect",
                )
            )
            continue
        if isinstance(policy, EntryBan | ExitScreening):
            attr = scenario.attributes[policy.attribute]
            if (
                attr.share == 0
                and not attr.surge_share
                and not _overridden(scenario, policy.attribute)
            ):
                out.append(
                    (
                        f"attributes.{policy.attribute}.share",
                        f"nobody holds {policy.attribute!r} (share 0), "
                        f"so policy {pid!r} never acts",
                    )
                )
        if isinstance(policy, AccessRestriction) and policy.selector.modes:
            unused = [m for m in policy.selector.modes if m not in classes_modes]
            if len(unused) == len(policy.selector.modes):
                out.append(
                    (
                        f"{base}.selector.modes",
                        f"no party class travels by {', '.join(unused)}, so it never acts",
                    )
                )
        idle = _idle(scenario, policy)
        if idle:
            out.append((f"{base}.{idle[0]}", f"{idle[1]}, so the policy never acts"))
        where = getattr(policy, "where", None)
        if where is not None and not where.checkpoints:
            empty = [c for c in where.countries if c not in countries_with_checkpoints]
            if len(empty) == len(where.countries):
                out.append(
                    (
                        f"{base}.where.countries",
                        f"no checkpoint is in {', '.join(empty)}, so it never acts",
                    )
                )
    return out


def _idle(scenario: Scenario, policy: Any) -> tuple[str, str] | None:
    """The field and reason when a policy's own settings make it change nothing."""
    if isinstance(policy, AccessRestriction) and policy.compliance == 0:
        return "compliance", "compliance 0 stops nobody"
    if isinstance(policy, ExitScreening) and not (
        policy.turn_back_share or policy.extra_minutes or policy.deterrence
    ):
        return "turn_back_share", "it turns back nobody, adds no minutes and deters nobody"
    if isinstance(policy, CapacityChange) and policy.service_multiplier in (None, 1):
        spec = scenario.checkpoints[policy.checkpoint].modes[policy.mode]
        if policy.lanes is None or all(
            getattr(spec, stage).lanes == policy.lanes for stage in policy.stages
        ):
            return "lanes", f"it sets the lanes {policy.checkpoint} {policy.mode} already has"
    return None


def _surge_warnings(scenario: Scenario) -> list[tuple[str, str]]:
    """A surge that is 0 throughout the horizon (one knot, knots outside it, all 0)."""
    knots = scenario.demand.surge
    if not knots:
        return []
    if len(knots) == 1:
        return [
            (
                "demand.surge",
                "a single knot gives no surge (the rate is linear between knots and 0 "
                "outside them); give at least two",
            )
        ]
    start, end = scenario.horizon.start, scenario.horizon.end
    acts = any(
        a.at < end and b.at > start and (a.per_day > 0 or b.per_day > 0)
        for a, b in itertools.pairwise(knots)
    )
    if acts:
        return []
    return [
        (
            "demand.surge",
            f"the surge is 0 throughout the horizon ({start.isoformat()} to {end.isoformat()}): "
            "its knots are all outside it or all 0",
        )
    ]


#: Bounds of plausible values; a value beyond one is probably a unit slip.
MAX_TRAVEL_HOURS = 72
MAX_SERVICE_MINUTES = 600
FACTOR_MEAN_RANGE = (0.5, 2.0)


def _plausibility_warnings(scenario: Scenario) -> list[tuple[str, str]]:
    """Profiles far from a mean of 1 and times that look like minutes typed as hours."""
    out = []
    low, high = FACTOR_MEAN_RANGE
    for name in ("weekday_factors", "hourly_factors"):
        factors = getattr(scenario.demand, name)
        mean = sum(factors) / len(factors)
        note = (
            f"they multiply baseline_per_day, so normal traffic is {mean:g} times it"
            if name == "weekday_factors"
            else "they are rescaled to mean 1, so only their shape counts"
        )
        if not low <= mean <= high:
            out.append(
                (
                    f"demand.{name}",
                    f"the factors' mean is {mean:g}, not about 1 (outside {low:g} to {high:g}); "
                    f"{note} (written as percentages?)",
                )
            )
    for oid, origin in scenario.demand.origins.items():
        for cid, hours in origin.travel_hours.items():
            if hours > MAX_TRAVEL_HOURS:
                out.append(
                    (
                        f"demand.origins.{oid}.travel_hours.{cid}",
                        f"{hours:g} hours is more than {MAX_TRAVEL_HOURS} "
                        "(minutes typed as hours?)",
                    )
                )
    for cid, cp in scenario.checkpoints.items():
        for mode, spec in cp.modes.items():
            for stage in ("exit", "entry"):
                minutes = continuous(getattr(spec, stage).service_minutes).mean
                if minutes > MAX_SERVICE_MINUTES:
                    out.append(
                        (
                            f"checkpoints.{cid}.modes.{mode}.{stage}.service_minutes",
                            f"a mean of {minutes:g} minutes per party is more than "
                            f"{MAX_SERVICE_MINUTES} (seconds typed as minutes?)",
                        )
                    )
    return out


def _overridden(scenario: Scenario, attribute: str) -> bool:
    return any(o.attribute_shares.get(attribute) for o in scenario.demand.origins.values())


def observation_warnings(
    observations: list[Observation], scenario: Scenario, file: str | Path
) -> list[str]:
    """Reported figures the scenario's horizon does not cover, and counts with a fraction."""
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    out = []
    for obs in observations:
        for field in ("value", "low", "high"):
            number = getattr(obs, field)
            if obs.metric in COUNT_METRICS and number is not None and not number.is_integer():
                hint = (
                    f"; if the point separates thousands, write {number * 1000:.0f}"
                    if (number * 1000).is_integer()
                    else ""
                )
                out.append(
                    f"{file}:{obs.line}: {obs.id}: {field} {number:g} is not a whole number "
                    f"of {obs.metric}{hint}"
                )
        if status(obs, clock) == "outside_horizon":
            out.append(
                f"{file}:{obs.line}: {obs.id}: window {obs.start.isoformat()} to "
                f"{obs.end.isoformat()} is not inside the horizon of {scenario.name}; "
                "it is reported as outside_horizon and not fitted"
            )
    return [one_line(line) for line in out]

"""Warnings: inputs that are valid but probably not what the user meant.

Errors stop a command before anything runs; these are printed (``flowsim: warning:``)
and the command goes on. Each is one line naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path

from flowsim.observations import Observation, status
from flowsim.scenario.schema import AccessRestriction, EntryBan, ExitScreening, Scenario
from flowsim.timebase import Clock


def scenario_warnings(scenario: Scenario, file: str | Path = "<scenario>") -> list[str]:
    """Policies that cannot change anything in this scenario."""
    out = []
    end = scenario.horizon.end
    classes_modes = {m for c in scenario.demand.classes.values() for m in c.modes}
    for pid, policy in scenario.policies.items():
        where = f"{file}: policies.{pid}"
        if policy.start >= end:
            out.append(f"{where}: starts at the end of the horizon, so it never takes effect")
        if isinstance(policy, EntryBan | ExitScreening):
            attr = scenario.attributes[policy.attribute]
            if attr.share == 0 and not attr.surge_share and not _overridden(scenario, policy.attribute):
                out.append(f"{where}: nobody holds attribute {policy.attribute!r} (share 0), so it never acts")
        if isinstance(policy, AccessRestriction) and policy.selector.modes:
            unused = [m for m in policy.selector.modes if m not in classes_modes]
            if unused and len(unused) == len(policy.selector.modes):
                out.append(f"{where}: no party class travels by {', '.join(unused)}, so it never acts")
    return out


def _overridden(scenario: Scenario, attribute: str) -> bool:
    return any(o.attribute_shares.get(attribute) for o in scenario.demand.origins.values())


def observation_warnings(observations: list[Observation], scenario: Scenario, file: str | Path) -> list[str]:
    """Reported figures the scenario's horizon does not cover."""
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    return [
        f"{file}:{obs.line}: {obs.id}: window {obs.start.isoformat()} to {obs.end.isoformat()} "
        f"is outside the horizon of {scenario.name}; it is reported as outside_horizon"
        for obs in observations
        if status(obs, clock) == "outside_horizon"
    ]

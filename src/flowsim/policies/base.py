"""The policy registry: each YAML ``type`` maps to the function that installs it.

A policy type is a frozen spec class in `flowsim.scenario.schema` plus one module
here whose ``install(policy_id, spec, model)`` is registered with `register`. It acts
only through the model's hook API (`Model.at`, sites' rules, stages' capacities).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowsim.engine.checkpoint import Site
    from flowsim.engine.model import Model
    from flowsim.engine.rules import Rule
    from flowsim.scenario.schema import PolicyBase, Scenario

Installer = Callable[[str, Any, "Model"], None]
REGISTRY: dict[str, Installer] = {}


def register(policy_type: str) -> Callable[[Installer], Installer]:
    """Register the installer of a policy type."""

    def decorate(install: Installer) -> Installer:
        REGISTRY[policy_type] = install
        return install

    return decorate


def install_all(scenario: Scenario, model: Model) -> None:
    """Install every policy of the scenario on a freshly built model."""
    for policy_id, spec in scenario.policies.items():
        REGISTRY[spec.type](policy_id, spec, model)


def install_rule(model: Model, spec: PolicyBase, sites: list[Site], rule: Rule) -> None:
    """Put `rule` on `sites` from the policy's start to its end (if any).

    An announced policy is known before its start (`Site.announce`): informed parties
    who expect to arrive after the start avoid it as if it were in force.
    """

    def announce() -> None:
        start = model.clock.minutes(spec.start)
        end = math.inf if spec.end is None else model.clock.minutes(spec.end)
        for site in sites:
            site.announce(rule, start, end)

    def add() -> None:
        for site in sites:
            site.add_rule(rule)

    def remove() -> None:
        for site in sites:
            site.remove_rule(rule)

    if spec.announced is not None and spec.announced < spec.start:
        model.at(spec.announced, announce)
    model.at(spec.start, add)
    if spec.end is not None:
        model.at(spec.end, remove)

"""``exit_screening``: draft offices at the exit that turn men back, slow checks and deter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.rules import Rule
from flowsim.policies.base import install_rule, register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.scenario.schema import ExitScreening


@register("exit_screening")
def install(policy_id: str, spec: ExitScreening, model: Model) -> None:
    """Screen holders of `spec.attribute` at the targeted checkpoints from `spec.start`.

    Each holder is turned back with `turn_back_share`, parties with holders take
    `extra_minutes` longer at exit control, and informed holders avoid the checkpoint
    with probability `deterrence`.
    """
    rule = Rule(
        attribute=model.attribute_index(spec.attribute),
        screens=True,
        turn_back_share=spec.turn_back_share,
        extra_exit_minutes=spec.extra_minutes,
        deterrence_share=spec.deterrence,
        uniform=model.uniform(f"policy/{policy_id}"),
    )
    install_rule(model, spec, model.sites_of(spec.where), rule)

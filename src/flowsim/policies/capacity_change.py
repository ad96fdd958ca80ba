"""``capacity_change``: lanes and/or service times of one mode change for a period."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.policies.base import register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.scenario.schema import CapacityChange


@register("capacity_change")
def install(policy_id: str, spec: CapacityChange, model: Model) -> None:
    """Set lanes and the service-time multiplier at `spec.start`; restore them at `spec.end`."""
    site = model.site(spec.checkpoint)
    stages = site.stages(spec.mode, spec.stages)
    before: list[tuple[int, float]] = []

    def apply() -> None:
        before[:] = [(s.capacity, s.multiplier) for s in stages]
        for stage in stages:
            if spec.service_multiplier is not None:
                stage.multiplier = spec.service_multiplier
            stage.set_capacity(
                spec.lanes if spec.lanes is not None else stage.capacity, model.env.now
            )

    def restore() -> None:
        for stage, (lanes, multiplier) in zip(stages, before, strict=True):
            stage.multiplier = multiplier
            stage.set_capacity(lanes, model.env.now)

    model.at(spec.start, apply)
    if spec.end is not None:
        model.at(spec.end, restore)

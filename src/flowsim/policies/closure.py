"""``closure``: a checkpoint stops all service from `start` and reopens at `end`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.policies.base import register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.scenario.schema import Closure


@register("closure")
def install(policy_id: str, spec: Closure, model: Model) -> None:
    """Close the checkpoint at `spec.start`, reopen it at `spec.end`."""
    site = model.site(spec.checkpoint)
    model.at(spec.start, site.close)
    if spec.end is not None:
        model.at(spec.end, site.reopen)

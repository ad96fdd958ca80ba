"""``access_restriction``: an upstream authority stops a class of parties before the checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.rules import Rule
from flowsim.policies.base import install_rule, register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.scenario.schema import AccessRestriction


@register("access_restriction")
def install(policy_id: str, spec: AccessRestriction, model: Model) -> None:
    """Stop the selected parties at the targeted checkpoints from `spec.start`.

    Parties of the selected modes holding all `with` and none of `without` attributes
    are stopped (a share `compliance` of them); informed selected parties do not come.
    """

    def mask(names: list[str]) -> int:
        return sum(1 << model.attribute_index(n) for n in names)

    selector = spec.selector
    rule = Rule(
        stops_selected=True,
        modes=frozenset(selector.modes) if selector.modes is not None else None,
        with_mask=mask(selector.with_),
        without_mask=mask(selector.without),
        compliance=spec.compliance,
        uniform=model.uniform(f"policy/{policy_id}"),
    )
    install_rule(model, spec, model.sites_of(spec.where), rule)

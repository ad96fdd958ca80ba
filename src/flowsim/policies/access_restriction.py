"""``access_restriction``: an upstream authority stops a class of parties before the checkpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.rules import Rule
from flowsim.policies.base import install_rule, register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.engine.traveller import Party
    from flowsim.scenario.schema import AccessRestriction
    from flowsim.streams import Draws


class AccessRule(Rule):
    """Stop parties of the selected modes holding all `with` and none of `without`."""

    def __init__(
        self,
        modes: set[str] | None,
        with_mask: int,
        without_mask: int,
        compliance: float,
        uniform: Draws,
    ) -> None:
        self.modes = modes
        self.with_mask = with_mask
        self.without_mask = without_mask
        self.compliance = compliance
        self.uniform = uniform

    def _selects(self, profile: int, mode: str) -> bool:
        return (
            (self.modes is None or mode in self.modes)
            and profile & self.with_mask == self.with_mask
            and not profile & self.without_mask
        )

    def stops(self, party: Party, now: float) -> bool:
        """Selected parties are stopped (all of them at full compliance)."""
        if not self._selects(party.profile, party.mode):
            return False
        return self.compliance >= 1.0 or self.uniform() < self.compliance

    def blocks(self, profile: int, mode: str) -> bool:
        """Informed selected parties do not come."""
        return self._selects(profile, mode)


@register("access_restriction")
def install(policy_id: str, spec: AccessRestriction, model: Model) -> None:
    """Stop the selected parties at the targeted checkpoints from `spec.start`."""

    def mask(names: list[str]) -> int:
        return sum(1 << model.attribute_index(n) for n in names)

    selector = spec.selector
    rule = AccessRule(
        set(selector.modes) if selector.modes is not None else None,
        mask(selector.with_),
        mask(selector.without),
        spec.compliance,
        model.uniform(f"policy/{policy_id}"),
    )
    install_rule(model, spec, model.sites_of(spec.where), rule)

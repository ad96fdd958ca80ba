"""``entry_ban``: from a time, the destination refuses persons holding an attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.rules import Rule
from flowsim.policies.base import install_rule, register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.engine.traveller import Party
    from flowsim.scenario.schema import EntryBan


class EntryBanRule(Rule):
    """Refuse the holders (a whole party for a per-party attribute) at entry control."""

    def __init__(self, index: int, per_person: bool) -> None:
        self.index = index
        self.bit = 1 << index
        self.per_person = per_person

    def on_entry(self, party: Party, now: float) -> int:
        """Persons refused."""
        held = party.counts[self.index]
        if not held:
            return 0
        party.counts[self.index] = 0
        return held if self.per_person else party.size

    def blocks(self, profile: int, mode: str) -> bool:
        """Informed holders do not come."""
        return bool(profile & self.bit)


@register("entry_ban")
def install(policy_id: str, spec: EntryBan, model: Model) -> None:
    """Refuse holders of `spec.attribute` at the targeted checkpoints from `spec.start`."""
    rule = EntryBanRule(
        model.attribute_index(spec.attribute), model.attribute_per_person(spec.attribute)
    )
    install_rule(model, spec, model.sites_of(spec.where), rule)

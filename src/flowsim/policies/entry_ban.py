"""``entry_ban``: from a time, the destination refuses persons holding an attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.rules import Rule
from flowsim.policies.base import install_rule, register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.scenario.schema import EntryBan


@register("entry_ban")
def install(policy_id: str, spec: EntryBan, model: Model) -> None:
    """Refuse holders of `spec.attribute` at the targeted checkpoints from `spec.start`.

    A per-party attribute (a car registered elsewhere, say) refuses the whole party;
    informed holders do not come.
    """
    rule = Rule(
        attribute=model.attribute_index(spec.attribute),
        refuses=True,
        refuse_whole_party=not model.attribute_per_person(spec.attribute),
    )
    install_rule(model, spec, model.sites_of(spec.where), rule)

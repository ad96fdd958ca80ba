"""``exit_screening``: draft offices at the exit that turn men back, slow checks and deter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.rules import Rule
from flowsim.policies.base import install_rule, register

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.engine.traveller import Party
    from flowsim.scenario.schema import ExitScreening
    from flowsim.streams import Draws


class ScreeningRule(Rule):
    """Each holder is turned back with `turn_back_share`; parties with holders take longer."""

    def __init__(
        self,
        index: int,
        turn_back_share: float,
        extra_minutes: float,
        deterrence: float,
        uniform: Draws,
    ) -> None:
        self.index = index
        self.bit = 1 << index
        self.turn_back_share = turn_back_share
        self.extra_minutes = extra_minutes
        self.deterrence_share = deterrence
        self.uniform = uniform

    def extra_exit_minutes(self, party: Party) -> float:
        """Added check time for a party with holders."""
        return self.extra_minutes if party.counts[self.index] else 0.0

    def on_exit(self, party: Party, now: float) -> int:
        """Holders turned back."""
        held = party.counts[self.index]
        turned = sum(1 for _ in range(held) if self.uniform() < self.turn_back_share)
        party.counts[self.index] = held - turned
        return turned

    def deterrence(self, profile: int) -> float:
        """Informed parties with holders avoid the checkpoint with this probability."""
        return self.deterrence_share if profile & self.bit else 0.0


@register("exit_screening")
def install(policy_id: str, spec: ExitScreening, model: Model) -> None:
    """Screen holders of `spec.attribute` at the targeted checkpoints from `spec.start`."""
    rule = ScreeningRule(
        model.attribute_index(spec.attribute),
        spec.turn_back_share,
        spec.extra_minutes,
        spec.deterrence,
        model.uniform(f"policy/{policy_id}"),
    )
    install_rule(model, spec, model.sites_of(spec.where), rule)

"""The rule: what a policy does to parties at a checkpoint, as data that every engine reads.

A policy installs `Rule` objects on checkpoints for a period. A rule is a record of
effects, each off by default: it may stop a selected class of parties before the
checkpoint (access), add minutes to the exit check of parties holding an attribute,
turn holders back after the exit check (screening), refuse holders at entry, and
deter informed holders. The engine never knows which policy a rule comes from; the
methods below are the reference reading of the record, and the compiled engine reads
the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from flowsim.engine.traveller import Party
    from flowsim.streams import Draws


@dataclass(eq=False, kw_only=True)
class Rule:
    """Effects of one policy at a checkpoint; an effect left at its default does nothing."""

    #: access: stop selected parties before the checkpoint
    stops_selected: bool = False
    #: modes a party must travel by to be selected (None: every mode)
    modes: frozenset[str] | None = None
    #: profile bits a selected party holds all of, and none of
    with_mask: int = 0
    without_mask: int = 0
    #: share of the selected parties actually stopped
    compliance: float = 1.0
    #: the attribute the exit, entry and deterrence effects look at (-1: none)
    attribute: int = -1
    #: minutes added to the exit check of a party with holders
    extra_exit_minutes: float = 0.0
    #: screening after the exit check: each holder is turned back with `turn_back_share`
    screens: bool = False
    turn_back_share: float = 0.0
    #: entry refuses the holders (the whole party if `refuse_whole_party`)
    refuses: bool = False
    refuse_whole_party: bool = False
    #: informed parties with holders avoid the checkpoint with this probability
    deterrence_share: float = 0.0
    #: the rule's own U(0, 1) stream (`Model.uniform`), if it draws
    uniform: Draws | None = None

    def selects(self, profile: int | np.ndarray, mode: str) -> bool | np.ndarray:
        """Whether the access effect selects a party of this mode and profile (or of each)."""
        if self.modes is not None and mode not in self.modes:
            return False
        return (profile & self.with_mask == self.with_mask) & (profile & self.without_mask == 0)

    def stops(self, party: Party, now: float) -> bool:
        """Access: True if an upstream authority stops the party before the checkpoint."""
        if not self.stops_selected or not self.selects(party.profile, party.mode):
            return False
        return self.compliance >= 1.0 or self.uniform() < self.compliance  # type: ignore[misc]

    def exit_minutes(self, party: Party) -> float:
        """Minutes added to the party's Russian exit check."""
        if not self.extra_exit_minutes or not party.counts[self.attribute]:
            return 0.0
        return self.extra_exit_minutes

    def on_exit(self, party: Party, now: float) -> int:
        """After exit control: persons turned back (``party.counts`` is updated)."""
        if not self.screens:
            return 0
        held = party.counts[self.attribute]
        share, uniform = self.turn_back_share, self.uniform
        turned = sum(1 for _ in range(held) if uniform() < share)  # type: ignore[misc]
        party.counts[self.attribute] = held - turned
        return turned

    def on_entry(self, party: Party, now: float) -> int:
        """After entry control: persons refused (``party.counts`` is updated)."""
        if not self.refuses:
            return 0
        held = party.counts[self.attribute]
        if not held:
            return 0
        party.counts[self.attribute] = 0
        return party.size if self.refuse_whole_party else held

    def blocks(self, profiles: np.ndarray, mode: str) -> np.ndarray:
        """Known effect: would an informed party of each profile and this mode avoid the site."""
        out = np.zeros(profiles.shape, dtype=bool)
        if self.stops_selected:
            out |= self.selects(profiles, mode)
        if self.refuses:
            out |= (profiles >> self.attribute & 1).astype(bool)
        return out

    def deterrence(self, profiles: np.ndarray) -> np.ndarray:
        """Known effect: probability that an informed party of each profile avoids the site."""
        if self.attribute < 0:
            return np.zeros(profiles.shape)
        return np.where(profiles >> self.attribute & 1, self.deterrence_share, 0.0)

"""The rule hook: what a policy can do to parties at a checkpoint.

A policy installs `Rule` objects on checkpoints for a period. The checkpoint calls
every installed rule at each hook point; a rule overrides only the hooks it needs.
The engine never knows which policy a rule comes from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowsim.engine.traveller import Party


class Rule:
    """Hook points a policy can fill; the defaults do nothing."""

    def stops(self, party: Party, now: float) -> bool:
        """Access: True if an upstream authority stops the party before the checkpoint."""
        return False

    def extra_exit_minutes(self, party: Party) -> float:
        """Minutes added to the party's Russian exit check."""
        return 0.0

    def on_exit(self, party: Party, now: float) -> int:
        """After exit control: persons turned back (the rule updates ``party.counts``)."""
        return 0

    def on_entry(self, party: Party, now: float) -> int:
        """After entry control: persons refused (the rule updates ``party.counts``)."""
        return 0

    def blocks(self, profile: int, mode: str) -> bool:
        """Known effect: would an informed party with this profile and mode avoid the site."""
        return False

    def deterrence(self, profile: int) -> float:
        """Known effect: probability that an informed party with this profile avoids the site."""
        return 0.0

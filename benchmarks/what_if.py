"""flowsim without events: what a redesign with no event per traveller could at best save.

`EventFreeModel` is the engine (`flowsim.engine.model.Model`) with exactly two changes,
both exact on the benchmark's M/M/c scenario and only there:

* a block's parties reach the checkpoint as soon as they are drawn, in time order,
  instead of through an arrival event (one origin, no travel time);
* the exit stage is the lane recursion (a party starts at ``max(arrival, earliest free
  lane)``, the lanes a heap of the times they fall free) and its completion is handled
  at once, instead of through a completion event (no policy or opening hour can change
  anything meanwhile).

Everything else is the engine's own code: demand draws, choice, `Party` records, the
checkpoint's access, balking and rule hooks, the pass-through entry stage, hourly
counters and wait histograms. The draws come in the same order, so the entries and
waits equal the engine's to the last bit (a test checks this): only the events are
gone (and the stage's time-integral of its queue, which the what-if does not keep). Its
cost is therefore a floor for any redesign that keeps this per-party work.
"""

from __future__ import annotations

from heapq import heapreplace
from typing import Any

from flowsim.distributions import continuous
from flowsim.engine.checkpoint import Site, Stage
from flowsim.engine.model import Model
from flowsim.engine.traveller import DONE, IN_SERVICE, WAITING, Party
from flowsim.scenario.schema import Scenario

__all__ = ["EventFreeModel"]


class LaneRecursionStage(Stage):
    """An exit stage whose parties start by the lane recursion and finish at once."""

    __slots__ = ("horizon", "lanes")

    def __init__(self, stage: Stage, site: Site, horizon: float) -> None:
        super().__init__(
            stage.env,
            site,
            lanes=stage.capacity,
            service=stage.service,
            mean_minutes=stage.mean_minutes,
            is_exit=True,
            on_done=stage.on_done,
            on_renege=None,
        )
        self.horizon = horizon
        self.lanes = [0.0] * stage.capacity

    def join(self, party: Party, now: float) -> None:
        """Start the party on the first free lane and finish its exit control now."""
        party.joined = now
        lanes = self.lanes
        start = lanes[0] if lanes[0] > now else now
        if start > now:
            self.joined_queue += 1
        if start >= self.horizon:  # still queued at the end, as in the engine
            party.state, party.stage = WAITING, self
            self.queue.append(party)
            self.waiting_units += 1
            self.waiting_persons += party.size
            return
        self.served += 1
        self.wait_total += start - now
        delay = self.service() * self.multiplier
        for rule in self.extra_rules:
            delay += rule.extra_exit_minutes(party)
        done = start + delay
        heapreplace(lanes, done)
        if done < self.horizon:
            party.state = DONE
            self.on_done(party, done)
        else:  # in service at the end
            party.state = IN_SERVICE
            self.busy_persons += party.size


class EventFreeModel(Model):
    """The engine on the M/M/c benchmark scenario, with no event per traveller."""

    def __init__(
        self, scenario: Scenario, seed: int, replication: int, trace: bool = False
    ) -> None:
        _require_mmc_shape(scenario)
        super().__init__(scenario, seed, replication, trace)
        (site,) = self.sites
        for mode, stage in site.exit.items():
            site.exit[mode] = LaneRecursionStage(stage, site, self.horizon)

    def _dispatch(self, origin: int, klass: int, batch: Any, chosen: Any, on_way: Any) -> None:
        """The engine's dispatch, then each party's arrival at once instead of as an event."""
        mine: Any = ([], [], [])
        super()._dispatch(origin, klass, batch, chosen, mine)
        # In time order already (one origin, no travel time): no sort is needed.
        for t, arrive, party in zip(*mine, strict=True):
            arrive(party, t)


def _require_mmc_shape(scenario: Scenario) -> None:
    """Refuse a scenario on which the two changes above would not be exact."""
    choice = scenario.demand.choice
    travel = [h for o in scenario.demand.origins.values() for h in o.travel_hours.values()]
    modes = [m for c in scenario.checkpoints.values() for m in c.modes.values()]
    checks = {
        "one origin": len(scenario.demand.origins) == 1,
        "one party class": len(scenario.demand.classes) == 1,
        "one checkpoint with one mode": len(scenario.checkpoints) == 1 and len(modes) == 1,
        "no opening hours": all(c.opening_hours is None for c in scenario.checkpoints.values()),
        "no policies": not scenario.policies,
        "no balking or reneging": not (choice.balk_hours or choice.patience_hours),
        "no travel time": all(h == 0 for h in travel),
        "an entry control that takes no time": all(
            continuous(m.entry.service_minutes).mean == 0 for m in modes
        ),
    }
    missing = [what for what, ok in checks.items() if not ok]
    if missing:
        raise ValueError(f"EventFreeModel needs the M/M/c benchmark shape: {', '.join(missing)}")

"""One checkpoint at run time: per mode, a Russian exit stage then the neighbour's entry stage.

A stage is a set of lanes serving one FCFS queue. Lanes are not processes: a service
completion is one call on the hot-path calendar (`Calendar.call_in`) that starts the
next party, so a party costs one event per stage. Reneging is exact but lazy: deadlines
sit in a heap and are settled, in time order, before any change of the queue; the
deadlines of parties already served are dropped in bulk once they are half the heap.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import TYPE_CHECKING

from flowsim.engine.traveller import DONE, IN_SERVICE, WAITING, Party
from flowsim.monitor import Monitor, SiteCounters

if TYPE_CHECKING:
    from flowsim.engine.calendar import Calendar
    from flowsim.engine.rules import Rule

INF = float("inf")
#: Stale deadlines tolerated beyond the queue's length before they are dropped.
COMPACT_SLACK = 256


class Stage:
    """Lanes of one (checkpoint, mode, control stage) with their queue."""

    __slots__ = (
        "_seq",
        "area",
        "busy",
        "busy_persons",
        "calls",
        "capacity",
        "deadlines",
        "done",
        "env",
        "extra_rules",
        "joined_queue",
        "mean_minutes",
        "multiplier",
        "on_done",
        "on_renege",
        "open",
        "pass_through",
        "queue",
        "renege",
        "renege_wait_total",
        "reneged",
        "seq",
        "served",
        "service",
        "since",
        "wait_total",
        "waiting_persons",
        "waiting_units",
    )

    def __init__(
        self,
        env: Calendar,
        site: Site,
        *,
        lanes: int,
        service: Callable[[], float],
        mean_minutes: float,
        is_exit: bool,
        on_done: Callable[[Party, float], None],
        on_renege: Callable[[Party, float], None] | None,
    ) -> None:
        self.env = env
        self.calls, self.seq = env.calls, env.seq
        self.capacity = lanes
        self.service = service
        self.mean_minutes = mean_minutes
        self.pass_through = mean_minutes == 0.0
        self.multiplier = 1.0
        self.on_done = on_done
        self.on_renege = on_renege
        self.renege = on_renege is not None
        self.open = True
        self.busy = 0
        self.busy_persons = 0
        self.queue: deque[Party] = deque()
        self.deadlines: list[tuple[float, int, Party]] = []
        self._seq = 0
        self.waiting_units = 0
        self.waiting_persons = 0
        self.area = 0.0  # time-integral of waiting units
        self.since = 0.0
        self.joined_queue = 0
        self.served = 0
        self.wait_total = 0.0  # minutes queued by those served
        self.reneged = 0
        self.renege_wait_total = 0.0
        #: rules that may add exit-check minutes: the site's (shared) list, or none
        self.extra_rules = site.rules if is_exit else ()
        self.done = self._done  # bound once: the hot path schedules it for every party

    def expected_wait_minutes(self) -> float:
        """Queue length times mean service time over lanes: what an arriving party expects."""
        if self.capacity <= 0:
            return INF
        return self.waiting_units * self.mean_minutes * self.multiplier / self.capacity

    def join(self, party: Party, now: float) -> None:
        """A party reaches the stage."""
        if self.pass_through:
            self.on_done(party, now)
            return
        if self.deadlines and self.deadlines[0][0] <= now:
            self.settle(now)
        party.joined = now
        if self.busy < self.capacity and self.open and not self.waiting_units:
            self._start(party, now)  # waited 0 minutes
            return
        party.state = WAITING
        party.stage = self
        self.joined_queue += 1
        self.queue.append(party)
        self.area += self.waiting_units * (now - self.since)
        self.since = now
        self.waiting_units += 1
        self.waiting_persons += party.size
        if self.renege and party.deadline < INF:
            self._seq += 1
            heapq.heappush(self.deadlines, (party.deadline, self._seq, party))
            if len(self.deadlines) > 2 * self.waiting_units + COMPACT_SLACK:
                self._compact_deadlines()

    def _compact_deadlines(self) -> None:
        """Drop the deadlines of parties no longer waiting here (served, or gone).

        Stale deadlines would only be popped and skipped later, one heap operation each;
        dropping them in one pass once they are half the heap keeps it as small as the
        queue, at a constant cost per party. The order of the rest is unchanged.
        """
        self.deadlines = [
            entry
            for entry in self.deadlines
            if entry[2].state == WAITING and entry[2].stage is self
        ]
        heapq.heapify(self.deadlines)

    def settle(self, now: float) -> None:
        """Let every party whose patience ran out by `now` leave, at its own deadline."""
        heap = self.deadlines
        while heap and heap[0][0] <= now:
            deadline, _, party = heapq.heappop(heap)
            if party.state != WAITING or party.stage is not self:
                continue
            party.state = DONE
            party.stage = None
            self.area += self.waiting_units * (deadline - self.since)
            self.since = deadline
            self.waiting_units -= 1
            self.waiting_persons -= party.size
            self.reneged += 1
            self.renege_wait_total += deadline - party.joined
            self.on_renege(party, deadline)  # type: ignore[misc]

    def fill(self, now: float) -> None:
        """Start waiting parties on free lanes."""
        if self.deadlines and self.deadlines[0][0] <= now:
            self.settle(now)
        queue = self.queue
        while queue and self.open and self.busy < self.capacity:
            party = queue.popleft()
            if party.state != WAITING or party.stage is not self:
                continue
            party.stage = None
            self.area += self.waiting_units * (now - self.since)
            self.since = now
            self.waiting_units -= 1
            self.waiting_persons -= party.size
            self._start(party, now)

    def _start(self, party: Party, now: float) -> None:
        party.state = IN_SERVICE
        self.busy += 1
        self.busy_persons += party.size
        self.served += 1
        self.wait_total += now - party.joined
        delay = self.service() * self.multiplier
        for rule in self.extra_rules:
            delay += rule.exit_minutes(party)
        heappush(self.calls, (now + delay, next(self.seq), self.done, party))  # env.call_in

    def _done(self, party: Party, now: float) -> None:
        self.busy -= 1
        self.busy_persons -= party.size
        self.on_done(party, now)
        if self.queue:
            self.fill(now)

    def set_open(self, is_open: bool, now: float) -> None:
        """Open or close the lanes (parties in service finish)."""
        self.open = is_open
        if is_open:
            self.fill(now)

    def set_capacity(self, lanes: int, now: float) -> None:
        """Change the number of lanes; surplus lanes retire when their party is done."""
        self.capacity = lanes
        self.fill(now)

    def mean_queue(self, now: float) -> float:
        """Time-integral of the waiting units up to `now`."""
        return self.area + self.waiting_units * (now - self.since)


class SiteControls:
    """What policies and choice see of a checkpoint, in either engine.

    Its stages, the rules in force and announced, and its open/closed state.
    """

    def __init__(self, index: int, checkpoint_id: str, country: str, env: Calendar) -> None:
        self.index = index
        self.id = checkpoint_id
        self.country = country
        self.env = env
        self.rules: list[Rule] = []
        self.exit: dict[str, Stage] = {}
        self.entry: dict[str, Stage] = {}
        self.queue_space_m: dict[str, float] = {}
        self.closures = 0
        self.scheduled_open = True
        #: rules announced but not yet in force, with their start and end (simulation minutes)
        self.announced: list[tuple[Rule, float, float]] = []
        #: per origin: how much longer a party waits for having travelled so far (sunk cost)
        self.commitment: list[float] = []
        #: called when rules or closures change, so that choices are recomputed
        self.changed: Callable[[], None] = lambda: None

    def add_mode(
        self, mode: str, exit_stage: Stage, entry_stage: Stage, queue_space_m: float
    ) -> None:
        """Register the two stages of a mode."""
        self.exit[mode] = exit_stage
        self.entry[mode] = entry_stage
        self.queue_space_m[mode] = queue_space_m

    # --- hook API for policies ------------------------------------------------------

    def stages(
        self, mode: str, names: list[str] | tuple[str, ...] = ("exit", "entry")
    ) -> list[Stage]:
        """The named stages of a mode."""
        return [self.exit[mode] if name == "exit" else self.entry[mode] for name in names]

    def announce(self, rule: Rule, start: float, end: float) -> None:
        """Make a rule known from now on to informed parties arriving in ``[start, end)``."""
        self.announced.append((rule, start, end))
        self.changed()

    def add_rule(self, rule: Rule) -> None:
        """Install a rule from now on (it is no longer only announced)."""
        self.announced = [a for a in self.announced if a[0] is not rule]
        self.rules.append(rule)
        self.changed()

    def remove_rule(self, rule: Rule) -> None:
        """Uninstall a rule."""
        self.rules.remove(rule)
        self.changed()

    @property
    def is_open(self) -> bool:
        """Open by schedule and not closed by a policy."""
        return self.scheduled_open and self.closures == 0

    def close(self) -> None:
        """A policy closes the checkpoint (closures nest)."""
        self.closures += 1
        self.changed()
        self._apply_open()

    def reopen(self) -> None:
        """A policy's closure ends."""
        self.closures = max(0, self.closures - 1)
        self.changed()
        self._apply_open()

    def set_scheduled_open(self, is_open: bool) -> None:
        """Opening hours begin or end."""
        self.scheduled_open = is_open
        self._apply_open()

    def _apply_open(self) -> None:
        now = self.env.now
        for stage in (*self.exit.values(), *self.entry.values()):
            stage.set_open(self.is_open, now)


class Site(SiteControls):
    """A checkpoint at run time in the reference engine: also the party's path and counters."""

    def __init__(
        self,
        index: int,
        checkpoint_id: str,
        country: str,
        env: Calendar,
        monitor: Monitor,
        leave: Callable[[Party, Site, float, str], None],
    ) -> None:
        super().__init__(index, checkpoint_id, country, env)
        self.monitor = monitor
        self.counters: SiteCounters = monitor.sites[index]
        self.trace = monitor.trace
        self.leave = leave
        #: counts the later departure of an admitted party (its country's routes), if any
        self.depart: Callable[[Party, Site, float], None] | None = None

    # --- the party's path -----------------------------------------------------------

    def arrive(self, party: Party, now: float) -> None:
        """Access check, balking, then the exit queue."""
        # Calls run strictly before the horizon end, so int(now // 60) is a valid hour.
        self.counters.arrivals[int(now // 60.0)] += party.size
        party.site = self.index
        party.arrived = now
        for rule in self.rules:
            if rule.stops(party, now):
                self.leave(party, self, now, "turned_back")
                return
        stage = self.exit[party.mode]
        commitment = self.commitment[party.origin]
        if party.balk_minutes < INF:
            if stage.deadlines and stage.deadlines[0][0] <= now:
                stage.settle(now)  # parties out of patience no longer count as queued
            if stage.expected_wait_minutes() > party.balk_minutes * commitment:
                self.leave(party, self, now, "balked")
                return
        party.deadline = now + party.patience_minutes * commitment
        stage.join(party, now)

    def exit_done(self, party: Party, now: float) -> None:
        """Russian exit control finished: screening, then the entry queue."""
        if self.rules and not self._apply(party, now, "turned_back"):
            return
        self.entry[party.mode].join(party, now)

    def entry_done(self, party: Party, now: float) -> None:
        """Entry control finished: refusals, then admission."""
        if self.rules and not self._apply(party, now, "refusals"):
            return
        party.state = DONE
        h = int(now // 60.0)  # a valid hour: see `arrive`
        counters = self.counters
        counters.entries[h] += party.size
        counters.record_wait(h, party.size, (now - party.arrived) / 60.0, party.mode == "car")
        if self.depart is not None:
            self.depart(party, self, now)
        if self.trace is not None:
            self.trace.append(
                (party.pid, self.id, party.mode, party.size, party.arrived, now, "entries")
            )

    def _apply(self, party: Party, now: float, metric: str) -> bool:
        """Run the exit (turned_back) or entry (refusals) hooks; False if nobody is left."""
        for rule in self.rules:
            removed = (
                rule.on_exit(party, now) if metric == "turned_back" else rule.on_entry(party, now)
            )
            if removed:
                removed = min(removed, party.size)
                self.count(metric, party, removed, now)
                party.size -= removed
                if party.size <= 0:
                    party.state = DONE
                    return False
        return True

    def reneged(self, party: Party, when: float) -> None:
        """A party gave up waiting for exit control at `when`."""
        self.leave(party, self, when, "reneged")

    def count(self, metric: str, party: Party, persons: int, now: float) -> None:
        """Count `persons` of `party` under a flow metric at time `now`."""
        getattr(self.counters, metric)[self.monitor.hour(now)] += persons
        if self.trace is not None:
            self.trace.append((party.pid, self.id, party.mode, persons, party.arrived, now, metric))

    # --- observation ----------------------------------------------------------------

    def queue_snapshot(self, now: float) -> tuple[float, float, float]:
        """Vehicles queued, queue length in km, persons queued (both stages)."""
        vehicles = km = persons = 0.0
        for mode, space in self.queue_space_m.items():
            for stage in (self.exit[mode], self.entry[mode]):
                if stage.renege:
                    stage.settle(now)
                persons += stage.waiting_persons
                if space > 0:
                    vehicles += stage.waiting_units
                    km += stage.waiting_units * space / 1000.0
        return vehicles, km, persons

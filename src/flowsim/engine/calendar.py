"""The simulation clock: a SimPy environment with a second, lighter calendar for the hot path.

Arrivals at a checkpoint and service completions are by far the most frequent events
(two per party and stage). They need no `simpy.Event` object, no callbacks list and no
process: each is a ``(time, seq, fn, arg)`` tuple in a heap of its own, and `advance`
runs them in a tight loop. A batch of calls known in advance (a block's parties on their
way to the checkpoints) holds one heap entry at a time, its next call, so the heap stays
small (tens of entries rather than thousands). Everything else (demand blocks,
snapshots, opening hours, policy calls) stays an ordinary SimPy event. The two
calendars are merged in time order; at equal times SimPy's events come first, so a
policy that starts at ``t`` applies to a party arriving at ``t``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from itertools import count
from typing import Any

import simpy

INF = float("inf")


class Calendar(simpy.Environment):
    """`simpy.Environment` plus `call_in`: cheap timed calls ``fn(arg, time)``."""

    def __init__(self) -> None:
        super().__init__()
        #: the hot-path heap; the busiest callers push ``(time, next(seq), fn, arg)`` directly
        self.calls: list[tuple[float, int, Callable[[Any, float], None], Any]] = []
        self.seq = count()
        self._limit = INF  # time of SimPy's next event while `advance` runs
        self.calls_run = 0

    def call_in(self, delay: float, fn: Callable[[Any, float], None], arg: Any) -> None:
        """Call ``fn(arg, time)`` after `delay` minutes."""
        heapq.heappush(self.calls, (self._now + delay, next(self.seq), fn, arg))

    def call_each(
        self, times: list[float], fns: list[Callable[[Any, float], None]], args: list
    ) -> None:
        """Call ``fns[i](args[i], times[i])`` for each i; `times` ascending and not before now."""
        if times:
            batch = _Batch(times, fns, args)
            heapq.heappush(self.calls, (times[0], next(self.seq), self._next_of, batch))

    def _next_of(self, batch: _Batch, t: float) -> None:
        i = batch.next
        batch.fns[i](batch.args[i], t)
        i += 1
        batch.next = i
        if i < len(batch.times):
            heapq.heappush(self.calls, (batch.times[i], next(self.seq), self._next_of, batch))

    def schedule(self, event: simpy.Event, priority: int = 1, delay: float = 0) -> None:
        """SimPy's `schedule`, also cutting short a running `advance` that would overtake it."""
        super().schedule(event, priority, delay)
        if self._now + delay < self._limit:
            self._limit = self._now + delay

    def advance(self, until: float) -> None:
        """Run every call due before SimPy's next event and before `until`."""
        calls, pop = self.calls, heapq.heappop
        self._limit = min(super().peek(), until)
        n = 0
        while calls and calls[0][0] < self._limit:
            t, _, fn, arg = pop(calls)
            self._now = t
            fn(arg, t)
            n += 1
        self._limit = INF
        self.calls_run += n

    def pending_calls(self) -> list[Any]:
        """Arguments of the calls not yet run."""
        out = []
        for _, _, fn, arg in self.calls:
            if fn == self._next_of:
                out.extend(arg.args[arg.next :])
            else:
                out.append(arg)
        return out


class _Batch:
    """Calls of `Calendar.call_each` in time order, and the index of the next one."""

    __slots__ = ("args", "fns", "next", "times")

    def __init__(self, times: list[float], fns: list, args: list) -> None:
        self.times, self.fns, self.args = times, fns, args
        self.next = 0

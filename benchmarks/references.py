"""Reference implementations of an M/M/c FCFS workload for speed comparisons.

Four baselines that simulate exactly the same model as the engine benchmarks:
Poisson arrivals at rate ``lam``, ``c`` identical servers with exponential
service at rate ``mu``, one FCFS queue, run until ``n_travellers`` have
arrived and all of them have been served.

* :func:`plain_simpy_mmc` is the "easy" SimPy design a typical user writes:
  one generator process per traveller and a ``simpy.Resource``.
* :func:`heapq_mmc` is a bare pure-Python event loop on ``heapq`` with a
  ``deque`` queue: roughly the floor for an event-per-arrival simulation in
  CPython.
* :func:`heapq_records_mmc` is that loop carrying one flowsim `Party` record per
  traveller and counting admissions per hour: the floor for any engine built like
  ours, with a record per party and an event per arrival and per service.
* :func:`lane_recursion_records_mmc` keeps the records and the hourly counter but has
  no events at all: FCFS lanes as a heap of the times they fall free (the
  Kiefer–Wolfowitz recursion), so a service start is a computation, not an event. The
  floor for an engine redesigned that way.

All draw scalar variates from a local ``random.Random(seed)``. Each returns
``{"served": int, "mean_wait": float, "events": int | None}``; with
``return_waits=True`` the dict also holds ``"waits"``, the per-traveller wait
in queue in arrival order (used by the statistical tests).
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict, deque
from typing import Any

import simpy

from flowsim.engine.traveller import Party

_INF = float("inf")

__all__ = ["heapq_mmc", "heapq_records_mmc", "lane_recursion_records_mmc", "plain_simpy_mmc"]


def _check(n_travellers: int, lam: float, mu: float, c: int) -> None:
    if n_travellers < 1:
        raise ValueError("n_travellers must be >= 1")
    if not (lam > 0 and mu > 0) or c < 1:
        raise ValueError("need lam > 0, mu > 0, c >= 1")


def _party(pid: int) -> Party:
    """The engine's record for one traveller, with its defaults."""
    return Party(pid, 0, 0, 1, [0], 0, False, _INF, _INF)


def _result(
    served: int, waits: list[float], n_travellers: int, events: int | None, return_waits: bool
) -> dict[str, Any]:
    """The dict every reference returns (see the module docstring)."""
    out: dict[str, Any] = {
        "served": served,
        "mean_wait": sum(waits) / n_travellers,
        "events": events,
    }
    if return_waits:
        out["waits"] = waits
    return out


def plain_simpy_mmc(
    n_travellers: int,
    lam: float,
    mu: float,
    c: int,
    seed: int,
    *,
    return_waits: bool = False,
) -> dict[str, Any]:
    """Simulate M/M/c FCFS with one SimPy process per traveller.

    Parameters
    ----------
    n_travellers : int
        Number of arrivals; the run ends when all of them have been served.
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers (``simpy.Resource`` capacity; its queue is FIFO).
    seed : int
        Seed of the local ``random.Random`` instance.
    return_waits : bool, optional
        Also return the list of waits in arrival order.

    Returns
    -------
    dict
        ``served``, ``mean_wait``, ``events`` (events scheduled by SimPy, read
        from its private counter, or ``None`` if unavailable) and optionally
        ``waits``.
    """
    _check(n_travellers, lam, mu, c)
    rng = random.Random(seed)
    env = simpy.Environment()
    desks = simpy.Resource(env, capacity=c)
    waits = [0.0] * n_travellers
    served = 0

    def traveller(i: int):
        nonlocal served
        arrived = env.now
        with desks.request() as req:
            yield req
            waits[i] = env.now - arrived
            yield env.timeout(rng.expovariate(mu))
        served += 1

    def source():
        for i in range(n_travellers):
            yield env.timeout(rng.expovariate(lam))
            env.process(traveller(i))

    env.process(source())
    env.run()

    eid = getattr(env, "_eid", None)
    events = next(eid) if eid is not None else None
    return _result(served, waits, n_travellers, events, return_waits)


def heapq_mmc(
    n_travellers: int,
    lam: float,
    mu: float,
    c: int,
    seed: int,
    *,
    return_waits: bool = False,
) -> dict[str, Any]:
    """Simulate M/M/c FCFS with a bare ``heapq`` event loop.

    Events are ``(time, kind)`` tuples, ``kind`` 0 = departure, 1 = arrival;
    waiting travellers are kept as arrival times in a ``deque``.

    Parameters
    ----------
    n_travellers : int
        Number of arrivals; the run ends when all of them have been served.
    lam, mu : float
        Arrival rate and per-server service rate.
    c : int
        Number of servers.
    seed : int
        Seed of the local ``random.Random`` instance.
    return_waits : bool, optional
        Also return the list of waits in arrival order.

    Returns
    -------
    dict
        ``served``, ``mean_wait``, ``events`` (number of events popped, always
        ``2 * n_travellers``) and optionally ``waits``.
    """
    _check(n_travellers, lam, mu, c)
    rng = random.Random(seed)
    expo = rng.expovariate
    push = heapq.heappush
    pop = heapq.heappop

    heap: list[tuple[float, int]] = [(expo(lam), 1)]
    queue: deque[float] = deque()
    waits: list[float] = []
    record = waits.append
    busy = 0
    arrived = 0
    served = 0
    events = 0

    while heap:
        now, kind = pop(heap)
        events += 1
        if kind == 1:  # arrival
            arrived += 1
            if arrived < n_travellers:
                push(heap, (now + expo(lam), 1))
            if busy < c:
                busy += 1
                record(0.0)
                push(heap, (now + expo(mu), 0))
            else:
                queue.append(now)
        else:  # departure
            served += 1
            if queue:
                record(now - queue.popleft())
                push(heap, (now + expo(mu), 0))
            else:
                busy -= 1

    return _result(served, waits, n_travellers, events, return_waits)


def heapq_records_mmc(
    n_travellers: int,
    lam: float,
    mu: float,
    c: int,
    seed: int,
    *,
    return_waits: bool = False,
) -> dict[str, Any]:
    """`heapq_mmc` with a flowsim `Party` per traveller and hourly admission counts.

    Each arrival creates a `Party` (the engine's record, with its defaults), which
    travels through the event heap and the queue; its queue entry time is stored on the
    record, and each service completion bumps an hourly counter by the party's size.
    Same draws in the same order as `heapq_mmc`, so the same waits. Nothing else: no
    choice, no policies, no stages, so it bounds from below what an engine that keeps a
    record per party and two events per traveller can cost.

    Parameters and returns as `heapq_mmc`.
    """
    _check(n_travellers, lam, mu, c)
    rng = random.Random(seed)
    expo = rng.expovariate
    push = heapq.heappush
    pop = heapq.heappop
    # (time, kind, pid, party): at equal times departures (0) before arrivals (1), as in heapq_mmc
    heap: list[tuple[float, int, int, Party]] = [(expo(lam), 1, 0, _party(0))]
    queue: deque[Party] = deque()
    admitted_per_hour: defaultdict[int, int] = defaultdict(int)  # as cheap as the engine's lists
    waits: list[float] = []
    busy = 0
    arrived = 0
    events = 0

    while heap:
        now, kind, _, party = pop(heap)
        events += 1
        if kind == 1:  # arrival
            arrived += 1
            if arrived < n_travellers:
                push(heap, (now + expo(lam), 1, arrived, _party(arrived)))
            party.joined = now
            if busy < c:
                busy += 1
                waits.append(0.0)
                push(heap, (now + expo(mu), 0, party.pid, party))
            else:
                queue.append(party)
        else:  # departure
            admitted_per_hour[int(now // 60.0)] += party.size
            if queue:
                party = queue.popleft()
                waits.append(now - party.joined)
                push(heap, (now + expo(mu), 0, party.pid, party))
            else:
                busy -= 1

    return _result(sum(admitted_per_hour.values()), waits, n_travellers, events, return_waits)


def lane_recursion_records_mmc(
    n_travellers: int,
    lam: float,
    mu: float,
    c: int,
    seed: int,
    *,
    return_waits: bool = False,
) -> dict[str, Any]:
    """M/M/c FCFS without an event loop: each arrival's start is computed from the lanes.

    Arrivals come in time order; ``lanes`` is a heap of the times the ``c`` lanes fall
    free, so a traveller starts at ``max(arrival, lanes[0])`` and that lane falls free
    again after its service. A `Party` record per traveller and the hourly admission
    counter are kept as in `heapq_records_mmc`. Draws differ in order from the other
    references (a traveller's service is drawn when it arrives), so the sample path
    differs; the queue is the same.

    Parameters and returns as `heapq_mmc`; ``events`` is 0.
    """
    _check(n_travellers, lam, mu, c)
    rng = random.Random(seed)
    expo = rng.expovariate
    replace = heapq.heapreplace
    lanes = [0.0] * c
    admitted_per_hour: defaultdict[int, int] = defaultdict(int)
    waits: list[float] = []
    now = 0.0
    for pid in range(n_travellers):
        now += expo(lam)
        party = _party(pid)
        party.joined = now
        start = lanes[0] if lanes[0] > now else now
        done = start + expo(mu)
        replace(lanes, done)
        waits.append(start - party.joined)
        admitted_per_hour[int(done // 60.0)] += party.size

    return _result(sum(admitted_per_hour.values()), waits, n_travellers, 0, return_waits)

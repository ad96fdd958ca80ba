"""Aggregates kept while a replication runs: hourly flows, hourly stock snapshots, levels.

Counters are plain Python lists indexed by the hour of the simulation clock (cheap
to bump in the hot loop); they become numpy arrays once, at the end. Nothing here
grows with the number of travellers unless a trace is requested.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

#: What becomes of the persons who reach a checkpoint (each is counted under one).
OUTCOME_METRICS = ("entries", "refusals", "turned_back", "balked", "reneged", "diverted")
#: Persons counted at a checkpoint when something happens to them; `departures` are
#: admitted persons leaving the country again (counted where they leave).
FLOW_METRICS = ("arrivals", *OUTCOME_METRICS, "departures")
#: Stocks sampled at every hour boundary.
STOCK_METRICS = ("queue_vehicles", "queue_km", "queue_persons")
#: Persons counted at their origin.
ORIGIN_METRICS = ("set_out", "stayed_home")
#: Edges (hours) of the histogram of waits of admitted persons, kept per simulated day;
#: the first bin is [0, 1 min), the last [500 h, inf).
WAIT_EDGES_HOURS = np.concatenate([[0.0], np.geomspace(1 / 60, 500.0, 60)])


@dataclass(slots=True)
class Level:
    """Time-weighted level, e.g. units queued; `area / elapsed` is the mean."""

    value: int = 0
    since: float = 0.0
    area: float = 0.0

    def set(self, now: float, value: int) -> None:
        """Change the level at time `now`."""
        self.area += self.value * (now - self.since)
        self.value, self.since = value, now

    def close(self, now: float) -> float:
        """Area up to `now`."""
        return self.area + self.value * (now - self.since)


class SiteCounters:
    """Hourly flow counters of one checkpoint, and daily histograms of waits."""

    __slots__ = (
        *FLOW_METRICS,
        "car_entries",
        "car_wait_person_hours",
        "wait_histogram",
        "wait_person_hours",
    )

    def __init__(self, n_hours: int) -> None:
        for name in FLOW_METRICS:
            setattr(self, name, [0] * n_hours)
        self.wait_person_hours = [0.0] * n_hours
        self.car_entries = [0] * n_hours  #: admitted by car: the car queue's own wait
        self.car_wait_person_hours = [0.0] * n_hours
        n_days = (n_hours + 23) // 24
        self.wait_histogram = [[0] * len(WAIT_EDGES_HOURS) for _ in range(n_days)]

    def record_wait(self, hour: int, persons: int, wait_hours: float, by_car: bool) -> None:
        """Persons admitted after waiting `wait_hours` (counted in the simulated day of `hour`)."""
        self.wait_person_hours[hour] += persons * wait_hours
        if by_car:
            self.car_entries[hour] += persons
            self.car_wait_person_hours[hour] += persons * wait_hours
        self.wait_histogram[hour // 24][bisect_right(WAIT_EDGES_HOURS_LIST, wait_hours) - 1] += (
            persons
        )

    def array(self) -> np.ndarray:
        """Flows as an array [metric, hour]."""
        return np.array([getattr(self, m) for m in FLOW_METRICS], dtype=np.int64)


WAIT_EDGES_HOURS_LIST = WAIT_EDGES_HOURS.tolist()


class Monitor:
    """All aggregates of one replication."""

    def __init__(self, n_sites: int, n_origins: int, n_hours: int, trace: bool = False) -> None:
        self.n_hours = n_hours
        self.sites = [SiteCounters(n_hours) for _ in range(n_sites)]
        self.stocks = np.zeros((len(STOCK_METRICS), n_sites, n_hours + 1))
        self.origins = [[[0] * n_hours for _ in ORIGIN_METRICS] for _ in range(n_origins)]
        self.trace: list[tuple] | None = [] if trace else None

    def hour(self, now: float) -> int:
        """Hourly bin of a simulation time (the horizon end falls in the last bin)."""
        h = int(now // 60.0)
        return h if h < self.n_hours else self.n_hours - 1

    def flows(self) -> np.ndarray:
        """Flows as an array [metric, site, hour]."""
        return np.stack([s.array() for s in self.sites], axis=1)

    def wait_histograms(self) -> np.ndarray:
        """Admitted persons per wait bin, as an array [site, simulated day, bin]."""
        return np.array([s.wait_histogram for s in self.sites], dtype=np.int64)

    def wait_sums(self) -> np.ndarray:
        """Person-hours waited by those who entered, as an array [site, hour]."""
        return np.array([s.wait_person_hours for s in self.sites])

    def car_waits(self) -> tuple[np.ndarray, np.ndarray]:
        """Persons admitted by car and the person-hours they waited, each [site, hour]."""
        entries = np.array([s.car_entries for s in self.sites], dtype=np.int64)
        return entries, np.array([s.car_wait_person_hours for s in self.sites])

    def origin_flows(self) -> np.ndarray:
        """Origin counters as an array [metric, origin, hour]."""
        return np.array(self.origins, dtype=np.int64).transpose(1, 0, 2)

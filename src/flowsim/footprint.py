"""What a run will need, estimated from the scenario before its first replication.

A run keeps every replication's hourly arrays (flows, waits, stocks, per checkpoint
and hour) until it reduces them, and then its daily tables, one row per replication,
day, place and metric. Both grow with the replications, so their size is known before
anything runs; a run that cannot fit in the memory available is refused up front
instead of ending in ``MemoryError`` after hours. Its time follows from the parties the
demand is expected to send (about `EVENTS_PER_PARTY` events each): a rough figure for
the progress bar, as it depends on the machine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from flowsim.errors import RunError
from flowsim.monitor import FLOW_METRICS, ORIGIN_METRICS, STOCK_METRICS, WAIT_EDGES_HOURS
from flowsim.scenario import Scenario
from flowsim.timebase import Clock

#: Bytes per row of the daily tables per replication, with the copies made reducing them.
ROW_BYTES = 700
#: Copies of the hourly arrays held at once (the replications' and the stacked ones).
ARRAY_COPIES = 2
DAILY_METRICS = len(FLOW_METRICS) + 1 + len(STOCK_METRICS)
#: Events per party, and events a worker runs per second: measured on the historical and
#: the small test scenario (2.3 and 2.4 events; 70,000 per second on one core of 2026).
EVENTS_PER_PARTY = 2.4
EVENTS_PER_SECOND = 70_000.0


def replication_bytes(scenario: Scenario) -> int:
    """Memory one replication's results take until the run is reduced."""
    hours = Clock(scenario.horizon.start, scenario.horizon.end).n_hours
    days = math.ceil(hours / 24) + 1
    sites = len(scenario.checkpoints)
    countries = len({c.country for c in scenario.checkpoints.values()})
    cells = (
        (len(FLOW_METRICS) + 1) * sites * hours
        + sites * days * len(WAIT_EDGES_HOURS)
        + len(STOCK_METRICS) * sites * (hours + 1)
        + len(ORIGIN_METRICS) * len(scenario.demand.origins) * hours
    )
    rows = days * (sites + countries) * DAILY_METRICS
    return 8 * cells * ARRAY_COPIES + rows * ROW_BYTES


def replication_seconds(scenario: Scenario) -> float:
    """Rough time one replication takes on one worker."""
    from flowsim.demand import expected_parties

    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    parties = float(expected_parties(scenario, clock, 15.0).sum())
    return parties * EVENTS_PER_PARTY / EVENTS_PER_SECOND


def duration_text(seconds: float) -> str:
    """``40 s``, ``3 min``, ``2.5 h``, ``4 days``."""
    for unit, scale in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.2g} {unit}"
    return f"{max(seconds, 1):.0f} s"


def available_bytes() -> int | None:
    """Memory this machine can still give (None if it cannot tell)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def size_text(n_bytes: float) -> str:
    """``1.2 GB``, ``340 MB``, ``12 kB``."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{max(n_bytes / 1e3, 1):.3g} kB"


def check_memory(scenario: Scenario, replications: int, force: bool = False) -> int:
    """Estimated memory of a run; `RunError` if more than is available (unless `force`)."""
    per_replication = replication_bytes(scenario)
    needed = per_replication * replications
    available = available_bytes()
    if available is not None and needed > available and not force:
        raise RunError(
            f"{replications:,} replications need about {size_text(needed)} of memory "
            f"({size_text(per_replication)} each), more than the {size_text(available)} "
            "available; run fewer (or pass --force to try anyway)",
            field_path="--replications",
        )
    return needed

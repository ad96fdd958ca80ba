"""Simulation time: tz-aware datetimes <-> minutes since the horizon start, and local days.

The simulation clock counts minutes (float) from the horizon start. Flows are kept
in hourly bins of that clock; a local calendar day of a checkpoint is a run of
whole hourly bins, which requires the checkpoint's UTC offset to be a whole number
of hours during the horizon.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

Minutes = float
MINUTES_PER_HOUR = 60.0
MINUTES_PER_DAY = 1440.0


@cache
def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone `name`; raise ``KeyError`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise KeyError(name) from err


@dataclass(frozen=True, slots=True)
class Clock:
    """Converts between aware datetimes and simulation minutes for one horizon."""

    start: dt.datetime
    end: dt.datetime

    @property
    def horizon_minutes(self) -> Minutes:
        """Length of the horizon in minutes."""
        return (self.end - self.start).total_seconds() / 60.0

    @property
    def n_hours(self) -> int:
        """Number of (possibly partial) hourly bins in the horizon."""
        return int(np.ceil(self.horizon_minutes / MINUTES_PER_HOUR))

    def minutes(self, when: dt.datetime) -> Minutes:
        """Simulation minutes of an aware datetime."""
        return (when - self.start).total_seconds() / 60.0

    def datetime(self, minutes: Minutes) -> dt.datetime:
        """Aware UTC datetime of a simulation time."""
        return (self.start + dt.timedelta(minutes=minutes)).astimezone(dt.UTC)

    def hour_starts_utc(self) -> list[dt.datetime]:
        """UTC start of every hourly bin."""
        start = self.start.astimezone(dt.UTC)
        return [start + dt.timedelta(hours=h) for h in range(self.n_hours)]

    def local_dates(self, timezone: str) -> np.ndarray:
        """Local calendar date (``datetime64[D]``) of every hourly bin in `timezone`."""
        tz = zone(timezone)
        return np.array(
            [h.astimezone(tz).date() for h in self.hour_starts_utc()], dtype="datetime64[D]"
        )

    def local_midnights(self, timezone: str) -> list[Minutes]:
        """Simulation minutes of every local midnight inside the horizon (exclusive of start)."""
        tz = zone(timezone)
        local = self.start.astimezone(tz)
        day = dt.datetime(local.year, local.month, local.day, tzinfo=tz)
        out: list[Minutes] = []
        while True:
            day = (day + dt.timedelta(days=1)).replace(tzinfo=tz)
            t = self.minutes(day)
            if t > self.horizon_minutes:
                return out
            out.append(t)

    def whole_hour_offsets(self, timezone: str) -> bool:
        """True if `timezone` is a whole number of hours off the horizon start all through."""
        return _whole_hour_offsets(self, self.start.isoformat(), timezone)


@cache
def _whole_hour_offsets(clock: Clock, start_text: str, timezone: str) -> bool:
    """`Clock.whole_hour_offsets`, once per horizon and zone (checkpoints share zones).

    Clocks equal as instants may start at another offset: the start's text is in the key.
    """
    tz = zone(timezone)
    base_offset = clock.start.utcoffset() or dt.timedelta(0)
    for h in clock.hour_starts_utc():
        offset = h.astimezone(tz).utcoffset() or dt.timedelta(0)
        if (offset - base_offset).total_seconds() % 3600 != 0:
            return False
    return clock.start.minute == 0 and clock.start.second == 0


def local_time_of_day_minutes(clock: Clock, timezone: str, minutes: Minutes) -> Minutes:
    """Minutes past local midnight at simulation time `minutes` in `timezone`."""
    local = clock.datetime(minutes).astimezone(zone(timezone))
    return local.hour * 60.0 + local.minute + local.second / 60.0

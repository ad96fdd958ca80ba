"""Local days across daylight-saving changes: every day present, daily sums equal hourly sums."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml
from builders import build, single_checkpoint

import flowsim
from flowsim.monitor import FLOW_METRICS

HISTORICAL = Path(__file__).parents[1] / "scenarios" / "historical_2022.yaml"
ZONES = sorted(
    {cp["timezone"] for cp in yaml.safe_load(HISTORICAL.read_text())["checkpoints"].values()}
)
#: Local first days of 8-day horizons spanning the EU spring (27 Mar) and autumn (30 Oct) changes.
FIRST_DAYS = (dt.date(2022, 3, 24), dt.date(2022, 10, 27))


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone)


@pytest.mark.parametrize("first", FIRST_DAYS, ids=str)
@pytest.mark.parametrize("timezone", ZONES)
def test_every_local_day_is_in_daily_and_sums_equal_the_hourly_flows(timezone, first):
    zone = ZoneInfo(timezone)
    data = single_checkpoint(
        arrivals_per_hour=5, service_minutes={"dist": "fixed", "value": 1}, lanes=2
    )
    data["checkpoints"]["gate"]["timezone"] = timezone
    start, end = _local_midnight(first, zone), _local_midnight(first + dt.timedelta(8), zone)
    data["horizon"] = {"start": start.isoformat(), "end": end.isoformat()}
    result = flowsim.run(build(data), replications=1, seed=3, workers=1, progress=False)
    rows = result.by_replication[result.by_replication["checkpoint"] == "gate"]
    days = sorted(set(rows["date"]))
    assert days == [first + dt.timedelta(d) for d in range(8)]
    hours = {
        day: (
            _local_midnight(day + dt.timedelta(1), zone).astimezone(dt.UTC)
            - _local_midnight(day, zone).astimezone(dt.UTC)
        )
        // dt.timedelta(hours=1)
        for day in days
    }
    assert sum(hours.values()) == result.hourly.flows.shape[-1]
    for m, metric in enumerate(FLOW_METRICS):
        daily = rows[rows["metric"] == metric]["value"].to_numpy()
        edges = np.cumsum([0, *hours.values()])
        hourly = result.hourly.flows[0, m, 0]
        expected = [hourly[a:b].sum() for a, b in itertools.pairwise(edges)]
        assert daily.tolist() == expected, metric


def test_a_zones_whole_hour_check_depends_on_the_starts_offset_not_only_its_instant():
    """The check is cached; two clocks that start at one instant may start at other offsets."""
    from flowsim.timebase import Clock

    utc = dt.datetime(2022, 9, 1, tzinfo=dt.UTC)
    india = utc.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    end = utc + dt.timedelta(days=3)
    assert Clock(utc, end) == Clock(india, end)
    assert Clock(utc, end).whole_hour_offsets("Europe/Moscow")
    assert not Clock(india, end).whole_hour_offsets("Europe/Moscow")

"""Reported figures: the observations CSV, its validation, and the observation operator.

The operator turns a run's hourly arrays into the simulated counterpart of each
reported figure, one value per replication: a count sums a flow over ``[start, end)``
(hourly bins weighted by their overlap, so windows such as 10:00 to 10:00 Georgian time
and totals since a date are exact); a snapshot (``start == end``) samples a stock at
that moment; ``+`` in `country` or `checkpoint` sums places.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flowsim.errors import ObservationError, did_you_mean
from flowsim.monitor import FLOW_METRICS, STOCK_METRICS
from flowsim.scenario.schema import Scenario
from flowsim.textfile import read_text
from flowsim.timebase import Clock

COLUMNS = (
    "id",
    "country",
    "checkpoint",
    "metric",
    "start",
    "end",
    "value",
    "low",
    "high",
    "source",
    "note",
)
METRICS = (
    "entries",
    "refusals",
    "turned_back",
    "departures",
    "queue_vehicles",
    "queue_km",
    "wait_hours",
    "car_wait_hours",
)
#: Means over those admitted in a window: all of them, or those who came by car.
WAIT_METRICS = {"wait_hours", "car_wait_hours"}
NOT_MODELLED: set[str] = set()
SNAPSHOT_METRICS = {"queue_vehicles", "queue_km"}


@dataclass(frozen=True)
class Observation:
    """One reported figure."""

    id: str
    countries: tuple[str, ...]
    checkpoints: tuple[str, ...]  #: resolved checkpoint ids it covers
    metric: str
    start: dt.datetime
    end: dt.datetime
    value: float | None
    low: float | None
    high: float | None
    source: str
    note: str
    line: int

    @property
    def kind(self) -> str:
        """``exact``, ``lower``, ``upper`` or ``interval``."""
        if self.low is not None and self.high is not None:
            return "interval"
        if self.low is not None:
            return "lower"
        if self.high is not None:
            return "upper"
        return "exact"

    @property
    def reported(self) -> float:
        """The value, else the middle of the bounds (geometric), else the one bound.

        With a lower bound of 0 the middle is taken on the ``log1p`` scale, as the
        likelihood does, so that ``[0, 40]`` is not reported as 0.
        """
        if self.value is not None:
            return self.value
        if self.low is not None and self.high is not None:
            if self.low == 0:
                return math.sqrt(1 + self.high) - 1
            return math.sqrt(self.low * self.high)
        return self.low if self.low is not None else self.high  # type: ignore[return-value]

    @property
    def is_snapshot(self) -> bool:
        """A stock at a moment rather than a flow over a window."""
        return self.start == self.end


#: A number with thousands separators: ``8,314``, ``1,234,567.5`` (also with ``_``).
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:([,_])\d{3})(?:\1\d{3})*(?:\.\d+)?$")
#: Metrics counted in whole persons or vehicles (a fraction is probably a typo).
COUNT_METRICS = {"entries", "refusals", "turned_back", "departures", "queue_vehicles"}


def _number(text: str, field: str, file: str, line: int) -> float | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if ("," in text or "_" in text) and not THOUSANDS.match(text):
        raise ObservationError(
            f"{text!r} is ambiguous: a comma (or _) is read only as a thousands separator "
            "(8,314); write a decimal with a point (2.5)",
            file=file,
            line=line,
            field_path=field,
        )
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise ObservationError(
            f"expected a number, got {text!r}", file=file, line=line, field_path=field
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ObservationError(
            f"expected a finite non-negative number, got {text!r}",
            file=file,
            line=line,
            field_path=field,
        )
    return value


def _places(text: str, field: str, file: str, line: int) -> tuple[str, ...]:
    """The names of a ``+`` sum; each at most once (``a+a`` would count `a` twice)."""
    names = tuple(name.strip() for name in text.split("+"))
    for name in names:
        if not name:
            what = "country name" if field == "country" else "checkpoint id"
            raise ObservationError(f"empty {what}", file=file, line=line, field_path=field)
        if names.count(name) > 1:
            raise ObservationError(
                f"{name!r} appears twice in the sum {text.strip()!r}",
                file=file,
                line=line,
                field_path=field,
            )
    return names


def _time(text: str, field: str, file: str, line: int) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ObservationError(
            f"expected an ISO 8601 date-time with UTC offset, got {text!r}",
            file=file,
            line=line,
            field_path=field,
        ) from None
    if when.tzinfo is None:
        raise ObservationError(
            f"{text!r} has no UTC offset", file=file, line=line, field_path=field
        )
    return when


def load_observations(path: str | Path, scenario: Scenario) -> list[Observation]:
    """Read and check an observations CSV against a scenario's countries and checkpoints."""
    file = str(path)
    text = read_text(Path(path), ObservationError, "an observations file", encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    header = reader.fieldnames or []
    if not header:
        raise ObservationError("file is empty", file=file)
    if tuple(header[: len(COLUMNS)]) != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        problem = f"missing column(s) {', '.join(missing)}" if missing else "columns out of order"
        raise ObservationError(
            f"{problem}; the header must begin with {','.join(COLUMNS)}", file=file, line=1
        )
    by_country: dict[str, list[str]] = {}
    for cid, cp in scenario.checkpoints.items():
        by_country.setdefault(cp.country, []).append(cid)
    out: list[Observation] = []
    seen: set[str] = set()
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            out.append(_parse_row(row, file, line, by_country, scenario, seen))
    except csv.Error as err:  # in the row after the last good one
        raise ObservationError(f"CSV syntax error: {err}", file=file, line=line + 1) from None
    if not out:
        raise ObservationError("no observations", file=file)
    return out


def _parse_row(row, file, line, by_country, scenario, seen) -> Observation:
    if None in row or any(row.get(c) is None for c in COLUMNS):
        raise ObservationError("wrong number of fields", file=file, line=line)
    oid = row["id"].strip()
    if not oid:
        raise ObservationError("empty id", file=file, line=line, field_path="id")
    if oid in seen:
        raise ObservationError(f"duplicate id {oid!r}", file=file, line=line, field_path="id")
    seen.add(oid)
    metric = row["metric"].strip()
    if metric not in METRICS:
        raise ObservationError(
            f"unknown metric {metric!r} (valid: {', '.join(METRICS)})",
            file=file,
            line=line,
            field_path="metric",
        )
    countries = _places(row["country"], "country", file, line)
    for c in countries:
        if c in scenario.countries and c not in by_country:
            raise ObservationError(
                f"country {c!r} has no checkpoints in the scenario, so nothing is simulated there",
                file=file,
                line=line,
                field_path="country",
            )
        if c not in by_country:
            raise ObservationError(
                f"country {c!r} is not in the scenario (known: {', '.join(sorted(by_country))})",
                file=file,
                line=line,
                field_path="country",
            )
    if row["checkpoint"].strip():
        checkpoints = _places(row["checkpoint"], "checkpoint", file, line)
        for cid in checkpoints:
            if cid not in scenario.checkpoints:
                raise ObservationError(
                    f"checkpoint {cid!r} is not in the scenario"
                    f"{did_you_mean(cid, scenario.checkpoints)}",
                    file=file,
                    line=line,
                    field_path="checkpoint",
                )
            if scenario.checkpoints[cid].country not in countries:
                raise ObservationError(
                    f"checkpoint {cid!r} is in {scenario.checkpoints[cid].country}, "
                    f"not in {row['country']!r}",
                    file=file,
                    line=line,
                    field_path="checkpoint",
                )
        summed = {scenario.checkpoints[cid].country for cid in checkpoints}
        for c in countries:
            if c not in summed:
                raise ObservationError(
                    f"none of the checkpoints {row['checkpoint'].strip()!r} is in {c!r}; "
                    "list only the countries of the checkpoints summed",
                    file=file,
                    line=line,
                    field_path="country",
                )
    else:
        checkpoints = tuple(cid for c in countries for cid in by_country[c])
    start = _time(row["start"], "start", file, line)
    end = _time(row["end"], "end", file, line)
    if end < start:
        raise ObservationError("end is before start", file=file, line=line, field_path="end")
    snapshot = start == end
    if snapshot != (metric in SNAPSHOT_METRICS):
        need = (
            "a snapshot (start == end)"
            if metric in SNAPSHOT_METRICS
            else "a window (end after start)"
        )
        raise ObservationError(
            f"metric {metric!r} needs {need}", file=file, line=line, field_path="end"
        )
    value = _number(row["value"], "value", file, line)
    low = _number(row["low"], "low", file, line)
    high = _number(row["high"], "high", file, line)
    if value is None and low is None and high is None:
        raise ObservationError(
            "give a value, a low or a high bound", file=file, line=line, field_path="value"
        )
    if low is not None and high is not None and low > high:
        raise ObservationError(
            f"low {low:g} is above high {high:g}", file=file, line=line, field_path="low"
        )
    if value is not None and (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        bounds = f"[{'' if low is None else f'{low:g}'}, {'' if high is None else f'{high:g}'}]"
        raise ObservationError(
            f"value {value:g} is outside its bounds {bounds}",
            file=file,
            line=line,
            field_path="value",
        )
    return Observation(
        oid,
        countries,
        checkpoints,
        metric,
        start,
        end,
        value,
        low,
        high,
        row["source"].strip(),
        row["note"].strip(),
        line,
    )


def status(obs: Observation, clock: Clock) -> str:
    """``ok``, ``not_modelled`` or ``outside_horizon``."""
    if obs.metric in NOT_MODELLED:
        return "not_modelled"
    if obs.start < clock.start or obs.end > clock.end:
        return "outside_horizon"
    return "ok"


def _bin_weights(obs: Observation, clock: Clock, n_hours: int) -> np.ndarray:
    """Share of each hourly bin inside ``[start, end)``."""
    a, b = clock.minutes(obs.start), clock.minutes(obs.end)
    edges = np.arange(n_hours + 1) * 60.0
    overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, 60.0)
    return overlap / 60.0


def simulate_observation(obs: Observation, hourly, clock: Clock) -> np.ndarray:
    """The simulated figure of `obs` in each replication (an array over replications)."""
    index = [hourly.checkpoints.index(c) for c in obs.checkpoints]
    if obs.is_snapshot:
        stock = hourly.stocks[:, STOCK_METRICS.index(obs.metric)][:, index].sum(axis=1)
        t = clock.minutes(obs.start) / 60.0
        h = int(np.floor(t))
        frac = t - h
        if h + 1 >= stock.shape[1]:
            return stock[:, -1]
        return stock[:, h] * (1 - frac) + stock[:, h + 1] * frac
    weights = _bin_weights(obs, clock, hourly.flows.shape[-1])
    if obs.metric in WAIT_METRICS:
        if obs.metric == "car_wait_hours":
            waits = hourly.car_wait_person_hours[:, index].sum(axis=1) @ weights
            entered = hourly.car_entries[:, index].sum(axis=1) @ weights
        else:
            waits = hourly.wait_person_hours[:, index].sum(axis=1) @ weights
            entered = hourly.flows[:, FLOW_METRICS.index("entries")][:, index].sum(axis=1) @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(entered > 0, waits / entered, np.nan)
    flows = hourly.flows[:, FLOW_METRICS.index(obs.metric)][:, index].sum(axis=1)
    return flows @ weights


def file_record(path: str | Path) -> dict[str, str]:
    """Path and SHA-256 of an observations file, for a result's provenance."""
    import hashlib

    return {"path": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}

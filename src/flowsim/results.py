"""Run results: tidy DataFrames reduced over replications, their metadata, and writing them.

`RunResult.daily` has the columns ``date, country, checkpoint, metric, mean, p05, p50,
p95``. ``checkpoint == "all"`` rows are country totals. A date is the checkpoint's local
calendar day; only days the horizon covers completely, and that start after the
warm-up (`horizon.warmup_end`), are listed. Flows are persons;
``wait_hours`` is the mean time from reaching the checkpoint to being admitted of those
admitted that day, ``car_wait_hours`` the same for those admitted by car (``car_entries``
persons: the car queue's own wait); stocks (``queue_*``) are sampled at the end of the
local day.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from flowsim.atomic import atomic_dir
from flowsim.engine.model import Aggregates
from flowsim.monitor import FLOW_METRICS, ORIGIN_METRICS, OUTCOME_METRICS, STOCK_METRICS
from flowsim.outputs import MARKER
from flowsim.scenario.loader import dump_resolved
from flowsim.scenario.schema import Scenario
from flowsim.timebase import Clock, zone

DAILY_METRICS = (*FLOW_METRICS, "car_entries", "wait_hours", "car_wait_hours", *STOCK_METRICS)
ALL = "all"


@dataclass(frozen=True)
class RunMetadata:
    """Provenance of a run."""

    scenario: str
    seed: int
    replications: int
    workers: int
    version: str
    git_commit: str
    wall_seconds: float
    events: int
    events_per_second: float
    created_utc: str
    python: str
    #: The command that made the result, as typed (empty from the Python API).
    command: str = ""
    #: Every ``--set`` override applied to the scenario file, in order.
    overrides: tuple[str, ...] = ()
    #: ``{"path": ..., "sha256": ...}`` of the reported figures the result was held against.
    observations: dict[str, str] | None = None
    #: Address of the Dask scheduler that ran the replications (``workers`` is then its
    #: worker count); None for a local pool of ``workers`` processes.
    scheduler: str | None = None
    #: ``"posterior"``: replication r ran with draw r of the scenario's posterior;
    #: ``"point"``: every replication with the scenario's own values.
    parameters: str = "point"
    #: ``{"path": ..., "sha256": ...}`` of that posterior file, if one was used.
    posterior: dict[str, str] | None = None


#: Fields of metadata.json that differ between two runs of the same command.
TIMING_FIELDS = ("wall_seconds", "events_per_second", "created_utc")


@dataclass(frozen=True)
class HourlyArrays:
    """Per-replication hourly arrays, indexed like the scenario's checkpoints."""

    checkpoints: tuple[str, ...]
    countries: tuple[str, ...]
    hour_start_utc: pd.DatetimeIndex  #: start of each hourly bin
    flows: np.ndarray  #: [replication, FLOW_METRICS, checkpoint, hour]
    wait_person_hours: np.ndarray  #: [replication, checkpoint, hour]
    car_entries: np.ndarray  #: [replication, checkpoint, hour] persons admitted by car
    car_wait_person_hours: np.ndarray  #: [replication, checkpoint, hour] hours they waited
    wait_histogram: np.ndarray  #: [replication, checkpoint, simulated day, WAIT_EDGES_HOURS bin]
    stocks: np.ndarray  #: [replication, STOCK_METRICS, checkpoint, hour boundary]
    origin_flows: np.ndarray  #: [replication, ORIGIN_METRICS, origin, hour]

    @classmethod
    def from_outputs(cls, scenario: Scenario, outputs: list[Aggregates]) -> HourlyArrays:
        """Stack the replications' aggregates."""
        clock = Clock(scenario.horizon.start, scenario.horizon.end)
        return cls(
            checkpoints=tuple(scenario.checkpoints),
            countries=tuple(c.country for c in scenario.checkpoints.values()),
            hour_start_utc=pd.DatetimeIndex(clock.hour_starts_utc()),
            flows=np.stack([o.flows for o in outputs]).astype(np.int32),
            wait_person_hours=np.stack([o.wait_person_hours for o in outputs]),
            car_entries=np.stack([o.car_entries for o in outputs]).astype(np.int32),
            car_wait_person_hours=np.stack([o.car_wait_person_hours for o in outputs]),
            wait_histogram=np.stack([o.wait_histogram for o in outputs]).astype(np.int32),
            stocks=np.stack([o.stocks for o in outputs]),
            origin_flows=np.stack([o.origin_flows for o in outputs]).astype(np.int32),
        )


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """`frame.to_csv(path, index=False)`, the same bytes in half the time.

    pandas formats a date or time column row by row; here each distinct value is
    formatted once (the hourly table has 2,400 times on 100,000 rows).
    """
    formatted = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or column.dtype == object:
            codes, distinct = pd.factorize(column)
            if (codes >= 0).all():  # no missing values, which pandas writes as ""
                formatted[name] = np.array([str(v) for v in distinct], dtype=object)[codes]
    frame.assign(**formatted).to_csv(path, index=False)


@dataclass(frozen=True)
class RunResult:
    """What `flowsim.run` returns."""

    scenario: Scenario
    metadata: RunMetadata
    daily: pd.DataFrame
    by_replication: pd.DataFrame
    hourly_queue: pd.DataFrame
    stage_stats: pd.DataFrame
    conservation: pd.DataFrame
    hourly: HourlyArrays
    trace: pd.DataFrame | None = None

    def with_provenance(self, **fields: object) -> RunResult:
        """The same result with more provenance in its metadata (e.g. ``command=...``)."""
        return replace(self, metadata=replace(self.metadata, **fields))

    def write(
        self,
        out_dir: str | Path,
        figures: dict[str, bytes] | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
    ) -> Path:
        """Write every table, the resolved scenario and the metadata atomically."""
        out = Path(out_dir)
        with atomic_dir(out) as tmp:
            for name, table in (tables or {}).items():
                write_csv(table, tmp / name)
            write_csv(self.daily, tmp / "daily.csv")
            write_csv(self.by_replication, tmp / "daily_by_replication.csv")
            write_csv(self.hourly_queue, tmp / "hourly_queue.csv")
            write_csv(self.stage_stats, tmp / "stage_stats.csv")
            write_csv(self.conservation, tmp / "conservation.csv")
            np.savez_compressed(
                tmp / "hourly.npz",
                checkpoints=np.array(self.hourly.checkpoints),
                countries=np.array(self.hourly.countries),
                hour_start_utc_ns=self.hourly.hour_start_utc.as_unit("ns").asi8,
                flows=self.hourly.flows,
                wait_person_hours=self.hourly.wait_person_hours,
                car_entries=self.hourly.car_entries,
                car_wait_person_hours=self.hourly.car_wait_person_hours,
                wait_histogram=self.hourly.wait_histogram,
                stocks=self.hourly.stocks,
                origin_flows=self.hourly.origin_flows,
            )
            if self.trace is not None:
                # mtime 0: the same run gives the same bytes
                self.trace.to_csv(
                    tmp / "trace.csv.gz", index=False, compression={"method": "gzip", "mtime": 0}
                )
            (tmp / "scenario.resolved.yaml").write_text(
                dump_resolved(self.scenario), encoding="utf-8"
            )
            (tmp / "metadata.json").write_text(self._metadata_json())
            for name, data in (figures or {}).items():
                (tmp / name).write_bytes(data)
        return out

    def _metadata_json(self) -> str:
        """The metadata, with the marker by which flowsim knows the folder as its own."""
        return json.dumps({**MARKER, **asdict(self.metadata)}, indent=2) + "\n"

    def write_summary(self, out_dir: str | Path) -> Path:
        """Write the daily table, the resolved scenario and the metadata.

        Not atomically: for use inside a folder that is itself written atomically.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.daily.to_csv(out / "daily.csv", index=False)
        (out / "scenario.resolved.yaml").write_text(dump_resolved(self.scenario), encoding="utf-8")
        (out / "metadata.json").write_text(self._metadata_json())
        return out


def complete_local_days(clock: Clock, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Complete local dates and, for each, the [first, last+1) hourly-bin range."""
    dates = clock.local_dates(timezone)
    unique, first = np.unique(dates, return_index=True)
    bounds = np.append(first, dates.size)
    tz = zone(timezone)
    keep_dates, ranges = [], []
    for i, day in enumerate(unique):
        d = day.astype(object)
        midnight = dt.datetime(d.year, d.month, d.day, tzinfo=tz)
        following = dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        # In UTC: a difference of two datetimes in one zone ignores a DST change (23 or 25 h).
        hours_in_day = round(
            (following.astimezone(dt.UTC) - midnight.astimezone(dt.UTC)).total_seconds() / 3600
        )
        if bounds[i + 1] - bounds[i] == hours_in_day and clock.minutes(midnight) >= 0:
            keep_dates.append(day)
            ranges.append((bounds[i], bounds[i + 1]))
    return np.array(keep_dates, dtype="datetime64[D]"), np.array(ranges, dtype=np.int64).reshape(
        -1, 2
    )


def _reported_days(
    scenario: Scenario, clock: Clock, timezone: str
) -> tuple[np.ndarray, np.ndarray]:
    """Complete local days that start at or after the warm-up's end."""
    dates, ranges = complete_local_days(clock, timezone)
    warmup_end = scenario.horizon.warmup_end
    if warmup_end is None:
        return dates, ranges
    tz = zone(timezone)
    keep = [
        dt.datetime.combine(d.astype(object), dt.time(), tzinfo=tz) >= warmup_end for d in dates
    ]
    return dates[keep], ranges[keep]


def _per_day(hourly: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Sums of a [replication, hour] array over each day's hours, replication-major."""
    return np.stack([hourly[:, a:b].sum(axis=1) for a, b in ranges], axis=1).ravel()


def _site_daily(scenario: Scenario, clock: Clock, h: HourlyArrays) -> pd.DataFrame:
    """Wide per-replication daily sums for every checkpoint."""
    frames = []
    n_rep = h.flows.shape[0]
    days = {  # once per time zone, not per checkpoint
        tz: _reported_days(scenario, clock, tz)
        for tz in {spec.timezone for spec in scenario.checkpoints.values()}
    }
    for s, (cid, spec) in enumerate(scenario.checkpoints.items()):
        dates, ranges = days[spec.timezone]
        if dates.size == 0:
            continue
        last = ranges[:, 1] - 1
        flows = np.stack([h.flows[:, :, s, a:b].sum(axis=2) for a, b in ranges], axis=2)

        stocks = h.stocks[:, :, s, last + 1]
        data = {
            "replication": np.repeat(np.arange(n_rep), dates.size),
            "date": np.tile(dates, n_rep),
            "country": spec.country,
            "checkpoint": cid,
        }
        for m, name in enumerate(FLOW_METRICS):
            data[name] = flows[:, m, :].ravel()
        for name in ("car_entries", "wait_person_hours", "car_wait_person_hours"):
            data[name] = _per_day(getattr(h, name)[:, s], ranges)
        for m, name in enumerate(STOCK_METRICS):
            data[name] = stocks[:, m, :].ravel()
        frames.append(pd.DataFrame(data))
    return pd.concat(frames, ignore_index=True)


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    country = (
        wide.drop(columns="checkpoint")
        .groupby(["replication", "date", "country"], as_index=False)
        .sum()
    )
    country["checkpoint"] = ALL
    wide = pd.concat([wide, country], ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        wide["wait_hours"] = np.where(
            wide["entries"] > 0, wide["wait_person_hours"] / wide["entries"], np.nan
        )
        wide["car_wait_hours"] = np.where(
            wide["car_entries"] > 0, wide["car_wait_person_hours"] / wide["car_entries"], np.nan
        )
    long = wide.melt(
        id_vars=["replication", "date", "country", "checkpoint"],
        value_vars=list(DAILY_METRICS),
        var_name="metric",
    )
    long["date"] = pd.to_datetime(long["date"]).dt.date
    return long.sort_values(
        ["date", "country", "checkpoint", "metric", "replication"], ignore_index=True
    )


def summarize(values: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and the 5th, 50th, 95th percentiles along the last axis, ignoring NaNs."""
    levels = [0.05, 0.5, 0.95]
    q = np.quantile(values, levels, axis=-1)
    gaps = np.isnan(values).any(axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN
        mean = np.nanmean(values, axis=-1)
        if gaps.any():
            q[:, gaps] = np.nanquantile(values[gaps], levels, axis=-1)
    return {"mean": mean, "p05": q[0], "p50": q[1], "p95": q[2]}


def _reduce(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    wide = long.set_index([*keys, "replication"])["value"].unstack("replication").sort_index()
    stats = summarize(wide.to_numpy(dtype=float))
    out = wide.index.to_frame(index=False)
    for name, column in stats.items():
        out[name] = column
    return out


def _hourly_queue(scenario: Scenario, h: HourlyArrays, clock: Clock) -> pd.DataFrame:
    times = pd.DatetimeIndex([*h.hour_start_utc, clock.end.astimezone(dt.UTC)])
    frames = []
    for s, (cid, spec) in enumerate(scenario.checkpoints.items()):
        for m, name in enumerate(STOCK_METRICS):
            stats = summarize(np.moveaxis(h.stocks[:, m, s, :], 0, -1))
            frames.append(
                pd.DataFrame(
                    {
                        "time_utc": times,
                        "country": spec.country,
                        "checkpoint": cid,
                        "metric": name,
                        **stats,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def read_result(folder: str | Path) -> RunResult:
    """A result folder written by `RunResult.write`, read back (for plots and reports).

    Raises `RunError` naming the folder and the missing or unreadable file.
    """
    from flowsim.errors import RunError
    from flowsim.scenario import load_scenario

    root = Path(folder)
    needed = (
        "scenario.resolved.yaml",
        "metadata.json",
        "daily.csv",
        "daily_by_replication.csv",
        "hourly_queue.csv",
        "stage_stats.csv",
        "conservation.csv",
        "hourly.npz",
    )
    for name in needed:
        if not (root / name).is_file():
            raise RunError(
                f"not a complete flowsim result folder: {name} is missing", file=str(root)
            )
    try:
        fields = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
        fields.pop("flowsim", None)
        fields["overrides"] = tuple(fields.get("overrides", ()))
        metadata = RunMetadata(**fields)
        tables = {name: pd.read_csv(root / name) for name in needed[2:7]}
        with np.load(root / "hourly.npz") as npz:
            hourly = HourlyArrays(
                checkpoints=tuple(npz["checkpoints"].tolist()),
                countries=tuple(npz["countries"].tolist()),
                hour_start_utc=pd.DatetimeIndex(
                    pd.to_datetime(npz["hour_start_utc_ns"], utc=True, unit="ns")
                ),
                flows=npz["flows"],
                wait_person_hours=npz["wait_person_hours"],
                car_entries=npz["car_entries"],
                car_wait_person_hours=npz["car_wait_person_hours"],
                wait_histogram=npz["wait_histogram"],
                stocks=npz["stocks"],
                origin_flows=npz["origin_flows"],
            )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise RunError(f"cannot read the result folder: {exc}", file=str(root)) from None
    for name in ("daily.csv", "daily_by_replication.csv"):
        tables[name]["date"] = pd.to_datetime(tables[name]["date"]).dt.date
    trace = root / "trace.csv.gz"
    return RunResult(
        scenario=load_scenario(root / "scenario.resolved.yaml"),
        metadata=metadata,
        daily=tables["daily.csv"],
        by_replication=tables["daily_by_replication.csv"],
        hourly_queue=tables["hourly_queue.csv"],
        stage_stats=tables["stage_stats.csv"],
        conservation=tables["conservation.csv"],
        hourly=hourly,
        trace=pd.read_csv(trace) if trace.is_file() else None,
    )


def as_result(result: RunResult | str | Path) -> RunResult:
    """A result object, or the result folder it was written to."""
    return result if isinstance(result, RunResult) else read_result(result)


def build_result(
    scenario: Scenario, outputs: list[Aggregates], metadata: RunMetadata, trace: bool = False
) -> RunResult:
    """Reduce per-replication aggregates into a `RunResult`."""
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    hourly = HourlyArrays.from_outputs(scenario, outputs)
    long = _long(_site_daily(scenario, clock, hourly))
    by_rep = long[["replication", "date", "country", "checkpoint", "metric", "value"]]
    daily = _reduce(long, ["date", "country", "checkpoint", "metric"])
    stage_stats = pd.DataFrame(
        [{"replication": r, **asdict(s)} for r, o in enumerate(outputs) for s in o.stage_stats]
    )
    conservation = _conservation(scenario, outputs)
    trace_df = None
    if trace:
        rows = [(r, *t) for r, o in enumerate(outputs) for t in (o.trace or [])]
        trace_df = pd.DataFrame(
            rows,
            columns=[
                "replication",
                "party",
                "checkpoint",
                "mode",
                "persons",
                "arrived_minute",
                "minute",
                "outcome",
            ],
        )
    return RunResult(
        scenario=scenario,
        metadata=metadata,
        daily=daily,
        by_replication=by_rep,
        hourly_queue=_hourly_queue(scenario, hourly, clock),
        stage_stats=stage_stats,
        conservation=conservation,
        hourly=hourly,
        trace=trace_df,
    )


def _conservation(scenario: Scenario, outputs: list[Aggregates]) -> pd.DataFrame:
    """Per replication and checkpoint: arrivals against outcomes plus those still there."""
    rows = []
    outcome_index = [FLOW_METRICS.index(m) for m in OUTCOME_METRICS]
    for r, o in enumerate(outputs):
        totals = o.flows.sum(axis=2)
        for s, cid in enumerate(scenario.checkpoints):
            row = {"replication": r, "checkpoint": cid}
            for m, name in enumerate(FLOW_METRICS):
                row[name] = int(totals[m, s])
            row["still_at_checkpoint"] = int(o.still_at_site[s])
            row["balance"] = (
                row["arrivals"] - int(totals[outcome_index, s].sum()) - row["still_at_checkpoint"]
            )
            rows.append(row)
        set_out, stayed_home = (int(v) for v in o.origin_flows.sum(axis=(1, 2)))
        final = [
            FLOW_METRICS.index(m)
            for m in ("entries", "refusals", "turned_back", "balked", "reneged")
        ]
        rows.append(
            {
                "replication": r,
                "checkpoint": "(all, from origins)",
                ORIGIN_METRICS[0]: set_out,
                ORIGIN_METRICS[1]: stayed_home,
                "still_at_checkpoint": int(o.still_at_site.sum()),
                "in_transit": int(o.in_transit),
                "balance": set_out
                - stayed_home
                - int(totals[final].sum())
                - int(o.still_at_site.sum())
                - int(o.in_transit),
            }
        )
    return pd.DataFrame(rows)

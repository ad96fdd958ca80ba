"""Counterfactual comparison: scenarios run on the same seeds, differences paired by replication.

Replication ``r`` of every scenario draws its arrivals from the same streams (common
random numbers), so the difference ``other_r - baseline_r`` removes most of the noise
the two runs share. The 95% interval of the mean difference is Student's t on the
paired differences; the unpaired (Welch) interval is reported beside it, to show what
the pairing buys.

When the scenarios carry a posterior, replication ``r`` of each runs with draw ``r`` of it
(`flowsim.parameter_draws`), so each paired difference is one draw's effect on common
random numbers. Beside the interval of the mean, ``post_ci_low, post_ci_high`` give the
central 90% of the paired differences themselves: the effect's uncertainty over the
posterior and the model's own noise, where the first interval holds only the Monte Carlo
error of its mean.
"""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from flowsim.errors import RunError
from flowsim.executors import open_executor, pool_size
from flowsim.monitor import FLOW_METRICS, STOCK_METRICS, WAIT_EDGES_HOURS
from flowsim.results import ALL, RunResult, read_result
from flowsim.runner import run
from flowsim.scenario import Scenario, load_scenario

TOTALS = ("entries", "refusals", "turned_back", "balked", "reneged", "diverted")
PEAKS = ("queue_vehicles", "queue_km")
WAITS = ("wait_hours_mean", "wait_hours_p95")
METRICS = (*TOTALS, *(f"peak_{m}" for m in PEAKS), *WAITS)
ALL_COUNTRIES = "all countries"
EFFECT_LEVEL = 0.90  #: central share of the paired differences in ``post_ci_low, post_ci_high``


@dataclass(frozen=True)
class Comparison:
    """Results of every scenario and the paired differences from the first (the baseline)."""

    results: list[RunResult]
    table: pd.DataFrame  #: see `comparison_table`

    @property
    def baseline(self) -> RunResult:
        """The first scenario's result."""
        return self.results[0]


def _periods(result: RunResult) -> list[tuple[str, int, int]]:
    """(label, first hour, end hour) of the horizon and of each week from its start."""
    n_hours = result.hourly.flows.shape[-1]
    start = result.hourly.hour_start_utc[0]
    periods = [("horizon", 0, n_hours)]
    for week, first in enumerate(range(0, n_hours, 7 * 24), 1):
        end = min(first + 7 * 24, n_hours)
        label = f"week {week} ({(start + pd.Timedelta(hours=first)).strftime('%d %b')})"
        periods.append((label, first, end))
    return periods


def _groups(result: RunResult) -> list[tuple[str, str, list[int]]]:
    """(country, checkpoint, checkpoint indices): each checkpoint, each country, all."""
    hourly = result.hourly
    out = [
        (country, cid, [i])
        for i, (cid, country) in enumerate(zip(hourly.checkpoints, hourly.countries, strict=True))
    ]
    for country in dict.fromkeys(hourly.countries):
        out.append((country, ALL, [i for i, c in enumerate(hourly.countries) if c == country]))
    out.append((ALL_COUNTRIES, ALL, list(range(len(hourly.checkpoints)))))
    return out


def _quantile_from_histogram(counts: np.ndarray, q: float) -> np.ndarray:
    """Quantile (hours) per replication from wait histograms [replication, bin]."""
    edges = WAIT_EDGES_HOURS
    upper = np.append(edges[1:], edges[-1] * 2)
    total = counts.sum(axis=1)
    cumulative = np.cumsum(counts, axis=1)
    out = np.full(counts.shape[0], np.nan)
    for r in range(counts.shape[0]):
        if total[r] == 0:
            continue
        k = int(np.searchsorted(cumulative[r], q * total[r]))
        below = cumulative[r, k - 1] if k > 0 else 0
        share = (q * total[r] - below) / max(counts[r, k], 1)
        out[r] = edges[k] + share * (upper[k] - edges[k])
    return out


def replication_metrics(result: RunResult) -> pd.DataFrame:
    """Per replication, group and period: every comparison metric (long format)."""
    h = result.hourly
    rows = []
    for country, checkpoint, index in _groups(result):
        flows = h.flows[:, :, index, :].sum(axis=2)  # [rep, metric, hour]
        stocks = h.stocks[:, :, index, :].sum(axis=2)  # [rep, stock, boundary]
        waits = h.wait_person_hours[:, index, :].sum(axis=1)
        histogram = h.wait_histogram[:, index].sum(axis=1)  # [rep, day, bin]
        for label, first, end in _periods(result):
            values: dict[str, np.ndarray] = {}
            for m in TOTALS:
                values[m] = flows[:, FLOW_METRICS.index(m), first:end].sum(axis=1).astype(float)
            for m in PEAKS:
                values[f"peak_{m}"] = stocks[:, STOCK_METRICS.index(m), first : end + 1].max(axis=1)
            entered = values["entries"]
            with np.errstate(invalid="ignore", divide="ignore"):
                values["wait_hours_mean"] = np.where(
                    entered > 0, waits[:, first:end].sum(axis=1) / entered, np.nan
                )
            values["wait_hours_p95"] = _quantile_from_histogram(
                histogram[:, first // 24 : (end + 23) // 24].sum(axis=1), 0.95
            )
            for metric, per_rep in values.items():
                for r, v in enumerate(per_rep):
                    rows.append((country, checkpoint, label, metric, r, v))
    return pd.DataFrame(
        rows, columns=["country", "checkpoint", "period", "metric", "replication", "value"]
    )


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (undefined, e.g. a wait with no entries) if there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _intervals(diff: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """Paired t interval of mean(diff) and Welch interval of mean(a) - mean(b)."""
    ok = np.isfinite(diff)
    n = int(ok.sum())
    if n < 2:
        return (np.nan,) * 4  # type: ignore[return-value]
    d = diff[ok]
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / np.sqrt(n)
    va, vb = np.nanvar(a, ddof=1) / n, np.nanvar(b, ddof=1) / n
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1)) if va + vb > 0 else n - 1
    half_unpaired = stats.t.ppf(0.975, dof) * se if se > 0 else 0.0
    mean = d.mean()
    return mean - half, mean + half, mean - half_unpaired, mean + half_unpaired


def _effect_interval(diff: np.ndarray) -> tuple[float, float]:
    """The central `EFFECT_LEVEL` of the finite paired differences."""
    d = diff[np.isfinite(diff)]
    if d.size < 2:
        return math.nan, math.nan
    tail = (1 - EFFECT_LEVEL) / 2
    low, high = np.quantile(d, [tail, 1 - tail])
    return float(low), float(high)


def comparison_table(results: list[RunResult]) -> pd.DataFrame:
    """For each scenario, group, period and metric: mean and paired difference from the baseline.

    Columns: ``scenario, country, checkpoint, period, metric, mean, baseline_mean, diff_mean,
    diff_ci_low, diff_ci_high, unpaired_ci_low, unpaired_ci_high, post_ci_low, post_ci_high,
    replications``.
    """
    keys = ["country", "checkpoint", "period", "metric"]
    base = (
        replication_metrics(results[0])
        .set_index([*keys, "replication"])["value"]
        .unstack("replication")
    )
    frames = []
    for result in results:
        other = (
            replication_metrics(result)
            .set_index([*keys, "replication"])["value"]
            .unstack("replication")
        )
        other = other.reindex(base.index)
        a, b = other.to_numpy(float), base.to_numpy(float)
        diff = a - b
        rows = []
        for i, key in enumerate(base.index):
            low, high, ulow, uhigh = _intervals(diff[i], a[i], b[i])
            post_low, post_high = _effect_interval(diff[i])
            rows.append(
                (*key, _mean(a[i]), _mean(b[i]), _mean(diff[i]), low, high, ulow, uhigh,
                 post_low, post_high)
            )  # fmt: skip
        frame = pd.DataFrame(
            rows,
            columns=[
                *keys,
                "mean",
                "baseline_mean",
                "diff_mean",
                "diff_ci_low",
                "diff_ci_high",
                "unpaired_ci_low",
                "unpaired_ci_high",
                "post_ci_low",
                "post_ci_high",
            ],
        )
        frame.insert(0, "scenario", result.scenario.name)
        frame["replications"] = a.shape[1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def compare(
    scenarios: list[Scenario | str | Path],
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    checkpoints: str | Path | None = None,
    force: bool = False,
    parameters: str = "posterior",
) -> Comparison:
    """Run the baseline (first) and every other scenario on the same seeds and compare them.

    The replications run in a pool of `workers` processes shared by the scenarios, in
    `executor` (left open) or on the Dask scheduler at `scheduler`; the result is the same.
    With `checkpoints`, each scenario's run is kept in that folder as soon as it is done,
    and a later call with the same scenarios, seed and replications reads it back instead
    of running it again (so an interrupted comparison resumes). `force` runs even what
    is estimated not to fit in memory. `parameters` is passed to `flowsim.runner.run`.
    """
    loaded = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    base = loaded[0]
    for other in loaded[1:]:
        check_comparable(base, other)
    n = base.replications if replications is None else replications
    s = base.seed if seed is None else seed
    if n < 1:
        raise RunError("must be at least 1", field_path="--replications")
    results = []
    with open_executor(pool_size(workers, n), scheduler, executor=executor) as pool:
        for sc in loaded:
            folder = Path(checkpoints) / sc.name if checkpoints is not None else None
            key = _run_key(sc, n, s, parameters)
            if (
                folder is not None
                and (folder / "run.key").is_file()
                and (folder / "run.key").read_text() == key
            ):
                results.append(read_result(folder))
                continue
            result = run(
                sc,
                replications=n,
                seed=s,
                workers=workers,
                executor=pool,
                progress=progress,
                force=force,
                label=sc.name,
                parameters=parameters,
            )
            if folder is not None:
                result.write(folder, figures={"run.key": key.encode()})
            results.append(result)
    return Comparison(results=results, table=comparison_table(results))


def check_comparable(base: Scenario, other: Scenario, file: str | None = None) -> None:
    """Refuse a scenario whose differences from the baseline would pass for a policy's effect.

    A comparison pairs day by day and checkpoint by checkpoint, so the horizon, the
    checkpoints, their countries and their time zones must be the baseline's. The error
    names `file` (default: the scenario's name).
    """
    fields = {
        "horizon.start": lambda s: s.horizon.start,
        "horizon.end": lambda s: s.horizon.end,
        "checkpoints": lambda s: sorted(s.checkpoints),
        "posterior": lambda s: s.posterior or "none",
    }
    for cid in base.checkpoints:
        fields[f"checkpoints.{cid}.country"] = lambda s, c=cid: s.checkpoints[c].country
        fields[f"checkpoints.{cid}.timezone"] = lambda s, c=cid: s.checkpoints[c].timezone

    def text(value: object) -> str:
        if isinstance(value, list):
            return ", ".join(value)
        return value.isoformat() if isinstance(value, dt.datetime) else str(value)

    for path, value in fields.items():
        mine, theirs = value(other), value(base)
        if mine != theirs:
            raise RunError(
                f"{text(mine)} differs from the baseline {base.name!r} ({text(theirs)}); scenarios "
                "compared must share it, or the difference would pass for a policy effect",
                file=file or other.name,
                field_path=path,
            )


def _run_key(scenario: Scenario, replications: int, seed: int, parameters: str) -> str:
    """What identifies a finished run: the resolved scenario, its posterior, seed and the rest."""
    import hashlib

    from flowsim import __version__
    from flowsim.parameter_draws import posterior_record
    from flowsim.scenario import dump_resolved

    posterior = posterior_record(scenario)["sha256"] if scenario.posterior else "none"
    text = (
        f"{dump_resolved(scenario)}\nseed={seed}\nreplications={replications}"
        f"\nversion={__version__}\nparameters={parameters}\nposterior={posterior}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """Entries over the horizon per country: difference from the baseline with its interval."""
    rows = table[
        (table["checkpoint"] == ALL)
        & (table["period"] == "horizon")
        & (table["metric"] == "entries")
    ]
    rows = rows[rows["scenario"] != table["scenario"].iloc[0]]
    out = rows[
        [
            "scenario",
            "country",
            "baseline_mean",
            "mean",
            "diff_mean",
            "diff_ci_low",
            "diff_ci_high",
            "post_ci_low",
            "post_ci_high",
        ]
    ].copy()
    # What common random numbers buy: the paired interval's width over the unpaired one's.
    out["paired_to_unpaired_width"] = (rows["diff_ci_high"] - rows["diff_ci_low"]) / (
        rows["unpaired_ci_high"] - rows["unpaired_ci_low"]
    )
    return out.round({c: 1 for c in out.columns[2:-1]} | {"paired_to_unpaired_width": 3})

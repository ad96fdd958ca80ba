"""Reported figures (rows of a fit table) and the simulated curve of the same quantity and place."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flowsim.inference.observations import WAIT_METRICS
from flowsim.monitor import STOCK_METRICS
from flowsim.plotting.axes import local
from flowsim.results import ALL, RunResult

REPORTED_COLOR = "black"
NOT_MODELLED_COLOR = "0.6"
SIMULATED_COLOR = "tab:blue"
WINDOW_COLOR = "tab:orange"


def is_flow(metric: str) -> bool:
    """A count summed over a window (entries, ...), drawn as a rate per day."""
    return metric not in STOCK_METRICS and metric not in WAIT_METRICS


@dataclass(frozen=True)
class Place:
    """Where a reported figure was counted: a country, a checkpoint, or a ``+`` sum of either."""

    label: str
    countries: tuple[str, ...]
    checkpoints: tuple[str, ...]

    @property
    def timezone_country(self) -> str:
        """The country whose local time the panel shows."""
        return self.countries[0]


def place_of(row: pd.Series, result: RunResult) -> Place:
    """The place of a fit-table row; a country is named as such even if it has one checkpoint."""
    countries = tuple(str(row["country"]).split("+"))
    everywhere = tuple(
        cid for cid, cp in result.scenario.checkpoints.items() if cp.country in countries
    )
    named = str(row["checkpoint"]) if pd.notna(row["checkpoint"]) else ""
    checkpoints = tuple(named.split("+")) if named else everywhere
    if set(checkpoints) == set(everywhere):
        return Place(str(row["country"]), countries, everywhere)
    return Place(f"{named} ({'+'.join(countries)})", countries, checkpoints)


def reported_value(row: pd.Series) -> float:
    """The value, else the geometric middle of the bounds, else the one bound."""
    if pd.notna(row["value"]):
        return float(row["value"])
    if pd.notna(row["low"]) and pd.notna(row["high"]):
        return float(np.sqrt(row["low"] * row["high"]))
    return float(row["low"] if pd.notna(row["low"]) else row["high"])


def draw_reported(ax, row: pd.Series, tz: str, windows: bool = True) -> None:
    """A reported figure over its window with its bounds; with `windows`, the simulated range.

    A flow over several days is drawn as a rate per day; a snapshot (start == end) as a point.
    """
    start, end = local(row["start"], tz), local(row["end"], tz)
    per = max((end - start) / pd.Timedelta(days=1), 1e-9) if is_flow(row["metric"]) else 1.0
    modelled = row["status"] == "ok"
    color = REPORTED_COLOR if modelled else NOT_MODELLED_COLOR
    value = reported_value(row) / per
    low = row["low"] / per if pd.notna(row["low"]) else None
    high = row["high"] / per if pd.notna(row["high"]) else None
    mid = start + (end - start) / 2
    if start == end:
        ax.plot(mid, value, "o", color=color, markersize=4, zorder=6)
    else:
        style = "solid" if modelled else "dotted"
        ax.hlines(value, start, end, color=color, linewidth=2.2, linestyles=style, zorder=6)
    if low is not None or high is not None:
        y0, y1 = low if low is not None else value, high if high is not None else value
        ax.vlines(mid, y0, y1, color=color, linewidth=1, zorder=6)
        if high is None:
            ax.annotate("", xy=(mid, y0 * 1.3), xytext=(mid, y0), arrowprops={"arrowstyle": "->"})
        if low is None:
            ax.annotate("", xy=(mid, y1 * 0.7), xytext=(mid, y1), arrowprops={"arrowstyle": "->"})
    if windows and modelled:
        p05, p50, p95 = (row[c] / per for c in ("sim_p05", "sim_p50", "sim_p95"))
        if start == end:
            ax.errorbar(
                mid, p50, yerr=[[p50 - p05], [p95 - p50]], fmt="s", color=WINDOW_COLOR, zorder=5
            )
        else:
            ax.fill_between(
                [start, end], p05, p95, color=WINDOW_COLOR, alpha=0.35, linewidth=0, zorder=4
            )
            ax.hlines(p50, start, end, color=WINDOW_COLOR, linewidth=1.2, zorder=5)


def simulated_curve(result: RunResult, metric: str, place: Place, tz: str) -> pd.DataFrame | None:
    """Columns ``x, mean, p05, p95`` of `metric` at `place` in local time of `tz`.

    Flows and waits are daily (drawn at local noon), stocks hourly; None if the model has
    no such quantity. A sum of places has quantiles of the per-replication sums; a stock
    summed over checkpoints has its mean only.
    """
    if metric in STOCK_METRICS:
        q = result.hourly_queue
        q = q[q["checkpoint"].isin(place.checkpoints) & (q["metric"] == metric)]
        if q.empty:
            return None
        summed = q.groupby("time_utc", sort=True)[["mean", "p05", "p95"]].sum()
        if len(place.checkpoints) > 1:
            summed[["p05", "p95"]] = np.nan
        x = pd.to_datetime(summed.index, utc=True).tz_convert(tz).tz_localize(None)
        return pd.DataFrame({"x": x, **{c: summed[c].to_numpy() for c in summed}})
    rows = result.by_replication
    rows = rows[rows["checkpoint"].isin(place.checkpoints) & (rows["checkpoint"] != ALL)]
    admitted = "car_entries" if metric == "car_wait_hours" else "entries"
    wide = rows[rows["metric"].isin([metric, admitted])].pivot_table(
        index=["replication", "date", "checkpoint"], columns="metric", values="value"
    )
    if metric not in wide.columns:
        return None
    if metric in WAIT_METRICS:  # the mean over the places, weighted by who was admitted
        wide["weighted"] = wide[metric].fillna(0) * wide[admitted]
        per_rep = wide.groupby(["date", "replication"])[["weighted", admitted]].sum()
        values = per_rep["weighted"] / per_rep[admitted].where(per_rep[admitted] > 0)
    else:
        values = wide.groupby(["date", "replication"])[metric].sum()
    table = values.unstack("replication")
    stats = pd.DataFrame(
        {
            "x": pd.to_datetime(table.index) + pd.Timedelta(hours=12),
            "mean": table.mean(axis=1).to_numpy(),
            "p05": table.quantile(0.05, axis=1).to_numpy(),
            "p95": table.quantile(0.95, axis=1).to_numpy(),
        }
    )
    return stats


def draw_curve(ax, curve: pd.DataFrame, label: str, color: str = SIMULATED_COLOR) -> None:
    """A simulated mean with its 90% band over replications."""
    if curve["p05"].notna().any():
        ax.fill_between(
            curve["x"], curve["p05"], curve["p95"], color=color, alpha=0.2, linewidth=0, zorder=2
        )
    ax.plot(curve["x"], curve["mean"], color=color, linewidth=1.2, label=label, zorder=3)

"""Figures: pure functions from results to matplotlib `Figure` objects.

This is the only module that imports matplotlib. Functions never run a simulation,
never call ``plt.show()`` and never touch global rcParams; they take result objects
and return a `Figure`, and `figure_bytes` renders one to PNG or SVG.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from flowsim.results import ALL, RunResult, as_result

#: A result object, or the folder it was written to (plots never re-run a simulation).
ResultLike = RunResult | str | Path
from flowsim.scenario.schema import Scenario  # noqa: E402


def policy_events(scenario: Scenario) -> list[tuple[pd.Timestamp, str, set[str]]]:
    """(time, short label, countries concerned) of every policy start."""
    by_checkpoint = {cid: cp.country for cid, cp in scenario.checkpoints.items()}
    events = []
    for pid, spec in scenario.policies.items():
        countries: set[str] = set()
        where = getattr(spec, "where", None)
        if where is not None:
            countries |= set(where.countries) | {by_checkpoint[c] for c in where.checkpoints}
        checkpoint = getattr(spec, "checkpoint", None)
        if checkpoint is not None:
            countries.add(by_checkpoint[checkpoint])
        events.append((pd.Timestamp(spec.start), pid.replace("_", " "), countries))
    return sorted(events, key=lambda e: e[0])


def _mark_policies(
    ax, events: Iterable[tuple[pd.Timestamp, str, set[str]]], country: str, tz
) -> None:
    """Dashed lines at the policies concerning `country`, labels stacked so they do not overlap."""
    shown = [e for e in events if country in e[2]]
    if not shown:
        return
    fontsize = 6.5
    left, right = ax.get_xlim()
    fig = ax.get_figure()
    width_points = ax.get_position().width * fig.get_figwidth() * 72
    row_ends: list[float] = []  # where the last label of each row ends, in points from the left
    for when, label, _ in shown:
        x = when.tz_convert(tz).tz_localize(None)
        ax.axvline(x, color="0.35", linestyle="--", linewidth=0.8)
        start = (mdates.date2num(x) - left) / (right - left) * width_points + 2
        end = start + 0.5 * fontsize * len(label)
        row = next((r for r, last in enumerate(row_ends) if last < start), len(row_ends))
        if row == len(row_ends):
            row_ends.append(end)
        row_ends[row] = end
        ax.annotate(
            label,
            xy=(x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -3 - 9 * row),
            textcoords="offset points",
            fontsize=fontsize,
            color="0.2",
            va="top",
            bbox={
                "boxstyle": "square,pad=0.05",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.7,
            },
        )


def daily_metric_figure(
    result: ResultLike,
    metric: str = "entries",
    countries: list[str] | None = None,
    ylabel: str = "persons per local day",
) -> Figure:
    """One panel per country: the mean daily `metric` with its 90% band and policy events."""
    result = as_result(result)
    daily = result.daily
    rows = daily[(daily["checkpoint"] == ALL) & (daily["metric"] == metric)]
    names = countries or sorted(rows["country"].unique())
    n = len(names)
    ncols = 2 if n > 1 else 1
    nrows = (n + ncols - 1) // ncols
    fig = Figure(figsize=(6.2 * ncols, 2.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    events = policy_events(result.scenario)
    tz_of = {cp.country: cp.timezone for cp in result.scenario.checkpoints.values()}
    for ax, country in zip(axes, names, strict=False):
        data = rows[rows["country"] == country].sort_values("date")
        x = pd.to_datetime(data["date"])
        ax.fill_between(
            x, data["p05"], data["p95"], color="tab:blue", alpha=0.25, linewidth=0, label="90% band"
        )
        ax.plot(x, data["mean"], color="tab:blue", linewidth=1.4, label="mean")
        _mark_policies(ax, events, country, tz_of.get(country, "UTC"))
        ax.set_title(country, fontsize=10, loc="left")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    if n:
        axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.8))
    fig.suptitle(
        f"{result.scenario.name}: simulated daily {metric.replace('_', ' ')} "
        f"({result.metadata.replications} replications, seed {result.metadata.seed})",
        fontsize=11,
    )
    return fig


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 130) -> bytes:
    """Render a figure to PNG or SVG bytes."""
    buffer = io.BytesIO()
    # No date, and SVG ids from a fixed salt: the same figure always gives the same bytes.
    # The salt is read from rcParams only, so it is set for this call and restored.
    metadata = {"Date": None} if fmt == "svg" else {}
    with matplotlib.rc_context({"svg.hashsalt": "flowsim"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def fit_figure(result: ResultLike, fit: pd.DataFrame) -> Figure:
    """Simulated against reported, one panel per reporting country (or sum of countries).

    Each figure is drawn over its window as a per-day rate (a total over several days is
    divided by their number): black bars are reported values with their bounds, orange
    boxes the simulated 90% range with its median. The blue band behind is the simulated
    daily entries of the country, for context.
    """
    result = as_result(result)
    panels = list(dict.fromkeys(fit["country"]))
    ncols = 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    fig = Figure(figsize=(6.4 * ncols, 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    daily = result.daily
    tz_of = {cp.country: cp.timezone for cp in result.scenario.checkpoints.values()}
    events = policy_events(result.scenario)
    for ax, panel in zip(axes, panels, strict=False):
        tz = tz_of.get(panel.split("+")[0], "UTC")
        context = daily[
            (daily["country"] == panel)
            & (daily["checkpoint"] == ALL)
            & (daily["metric"] == "entries")
        ]
        if len(context):
            x = pd.to_datetime(context["date"]) + pd.Timedelta(hours=12)
            ax.fill_between(
                x, context["p05"], context["p95"], color="tab:blue", alpha=0.15, linewidth=0
            )
            ax.plot(
                x,
                context["mean"],
                color="tab:blue",
                linewidth=0.8,
                alpha=0.6,
                label="simulated daily entries",
            )
        for _, row in fit[fit["country"] == panel].iterrows():
            start = pd.Timestamp(row["start"]).tz_convert(tz).tz_localize(None)
            end = pd.Timestamp(row["end"]).tz_convert(tz).tz_localize(None)
            days = max((end - start) / pd.Timedelta(days=1), 1e-9)
            mid = start + (end - start) / 2
            value = (
                row["value"]
                if pd.notna(row["value"])
                else np.sqrt(np.nanprod([row["low"], row["high"]]))
                if pd.notna(row["low"]) and pd.notna(row["high"])
                else (row["low"] if pd.notna(row["low"]) else row["high"])
            )
            modelled = row["status"] == "ok"
            color = "black" if modelled else "0.6"
            ax.hlines(
                value / days,
                start,
                end,
                color=color,
                linewidth=2.2,
                linestyles="solid" if modelled else "dotted",
            )
            low = row["low"] / days if pd.notna(row["low"]) else None
            high = row["high"] / days if pd.notna(row["high"]) else None
            if low is not None or high is not None:
                y0 = low if low is not None else value / days
                y1 = high if high is not None else value / days
                ax.vlines(mid, y0, y1, color=color, linewidth=1)
                if low is not None and high is None:
                    ax.annotate(
                        "",
                        xy=(mid, y0 * 1.25),
                        xytext=(mid, y0),
                        arrowprops={"arrowstyle": "->", "color": color},
                    )
                if high is not None and low is None:
                    ax.annotate(
                        "",
                        xy=(mid, y1 * 0.75),
                        xytext=(mid, y1),
                        arrowprops={"arrowstyle": "->", "color": color},
                    )
            if modelled:
                ax.fill_between(
                    [start, end],
                    row["sim_p05"] / days,
                    row["sim_p95"] / days,
                    color="tab:orange",
                    alpha=0.35,
                    linewidth=0,
                )
                ax.hlines(row["sim_p50"] / days, start, end, color="tab:orange", linewidth=1.2)
            ax.annotate(
                row["metric"] if row["metric"] != "entries" else "",
                xy=(mid, value / days),
                fontsize=6,
                color="0.3",
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
            )
        _mark_policies(ax, events, panel, tz)
        ax.set_title(panel, fontsize=10, loc="left")
        ax.set_ylabel("persons per day", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], color="black", linewidth=2.2, label="reported (window, bounds)"),
        Line2D(
            [], [], color="tab:orange", linewidth=6, alpha=0.5, label="simulated 90% range, median"
        ),
        Line2D(
            [], [], color="0.6", linewidth=2.2, linestyle="dotted", label="reported, not modelled"
        ),
        Line2D([], [], color="tab:blue", linewidth=0.8, label="simulated daily entries"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7)
    fig.suptitle(
        f"{result.scenario.name}: simulated against reported (per-day rates over each window)",
        fontsize=11,
    )
    return fig


SCENARIO_COLORS = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
]


def comparison_daily_figure(results: list[ResultLike], fit: pd.DataFrame | None = None) -> Figure:
    """Daily entries per country for every scenario (bands), policy markers, reported points."""
    results = [as_result(r) for r in results]
    countries = sorted({cp.country for r in results for cp in r.scenario.checkpoints.values()})
    ncols = 2
    nrows = (len(countries) + 1) // 2
    fig = Figure(figsize=(12.8, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    base = results[0]
    tz_of = {cp.country: cp.timezone for cp in base.scenario.checkpoints.values()}
    events = policy_events(base.scenario)
    for ax, country in zip(axes, countries, strict=False):
        for k, result in enumerate(results):
            d = result.daily
            rows = d[
                (d["country"] == country) & (d["checkpoint"] == ALL) & (d["metric"] == "entries")
            ]
            x = pd.to_datetime(rows["date"])
            color = SCENARIO_COLORS[k % len(SCENARIO_COLORS)]
            ax.fill_between(x, rows["p05"], rows["p95"], color=color, alpha=0.15, linewidth=0)
            ax.plot(x, rows["mean"], color=color, linewidth=1.2, label=result.scenario.name)
        if fit is not None:
            reported = fit[(fit["country"] == country) & (fit["metric"] == "entries")]
            for _, row in reported.iterrows():
                start = pd.Timestamp(row["start"]).tz_convert(tz_of[country]).tz_localize(None)
                end = pd.Timestamp(row["end"]).tz_convert(tz_of[country]).tz_localize(None)
                days = (end - start) / pd.Timedelta(days=1)
                if 0.9 < days < 1.1:
                    value = row["value"] if pd.notna(row["value"]) else row["low"]
                    ax.plot(start + (end - start) / 2, value, "ko", markersize=3.5)
        _mark_policies(ax, events, country, tz_of[country])
        ax.set_title(country, fontsize=10, loc="left")
        ax.set_ylabel("entries per local day", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(countries) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    if fit is not None:
        handles.append(Line2D([], [], color="black", marker="o", linestyle="", markersize=4))
        labels.append("reported (one day)")
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), fontsize=7)
    fig.suptitle(
        "Simulated daily entries by scenario (mean and 90% band over replications)", fontsize=11
    )
    return fig


def difference_figure(table: pd.DataFrame, metric: str = "entries") -> Figure:
    """Paired difference from the baseline over the horizon, per scenario and country; 95% CIs."""
    rows = table[
        (table["checkpoint"] == ALL) & (table["period"] == "horizon") & (table["metric"] == metric)
    ]
    baseline = table["scenario"].iloc[0]
    rows = rows[rows["scenario"] != baseline]
    scenarios = list(dict.fromkeys(rows["scenario"]))
    countries = list(dict.fromkeys(rows["country"]))
    fig = Figure(
        figsize=(10, 0.5 + 0.32 * len(countries) * max(len(scenarios), 1)), layout="constrained"
    )
    ax = fig.subplots()
    y = 0.0
    ticks, labels = [], []
    for country in countries:
        for k, scenario in enumerate(scenarios):
            row = rows[(rows["country"] == country) & (rows["scenario"] == scenario)]
            if row.empty:
                continue
            r = row.iloc[0]
            color = SCENARIO_COLORS[(k + 1) % len(SCENARIO_COLORS)]
            ax.errorbar(
                r["diff_mean"],
                y,
                xerr=[[r["diff_mean"] - r["diff_ci_low"]], [r["diff_ci_high"] - r["diff_mean"]]],
                fmt="o",
                color=color,
                markersize=4,
                capsize=2,
                label=scenario if country == countries[0] else None,
            )
            y -= 1
        ticks.append(y + len(scenarios) / 2 + 0.5)
        labels.append(country)
        y -= 0.6
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel(
        f"difference in {metric.replace('_', ' ')} over the horizon vs {baseline} "
        "(persons; paired 95% CI)",
        fontsize=8,
    )
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def queue_figure(results: list[ResultLike], checkpoints: list[str]) -> Figure:
    """Queue length (vehicles, hourly) and mean wait (daily) at some checkpoints, all scenarios."""
    results = [as_result(r) for r in results]
    fig = Figure(figsize=(12.8, 2.6 * len(checkpoints)), layout="constrained")
    axes = fig.subplots(len(checkpoints), 2, squeeze=False)
    for row, cid in enumerate(checkpoints):
        tz = results[0].scenario.checkpoints[cid].timezone
        for k, result in enumerate(results):
            color = SCENARIO_COLORS[k % len(SCENARIO_COLORS)]
            q = result.hourly_queue
            q = q[(q["checkpoint"] == cid) & (q["metric"] == "queue_vehicles")]
            x = pd.to_datetime(q["time_utc"]).dt.tz_convert(tz).dt.tz_localize(None)
            axes[row, 0].plot(x, q["mean"], color=color, linewidth=1, label=result.scenario.name)
            d = result.daily
            w = d[(d["checkpoint"] == cid) & (d["metric"] == "wait_hours")]
            axes[row, 1].plot(pd.to_datetime(w["date"]), w["mean"], color=color, linewidth=1)
        axes[row, 0].set_title(
            f"{cid}: vehicles queued (hourly mean over replications)", fontsize=9, loc="left"
        )
        axes[row, 1].set_title(
            f"{cid}: mean hours from arrival to admission (daily)", fontsize=9, loc="left"
        )
        for ax in axes[row]:
            ax.set_ylim(bottom=0)
            ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel("vehicles", fontsize=8)
        axes[row, 1].set_ylabel("hours", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), fontsize=7)
    return fig


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write a figure as ``stem.png`` and ``stem.svg``; return the paths."""
    from flowsim.atomic import atomic_write_bytes

    paths = []
    for fmt in ("png", "svg"):
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, figure_bytes(fig, fmt))
        paths.append(path)
    return paths

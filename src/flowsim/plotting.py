"""Figures: pure functions from results to matplotlib `Figure` objects.

This is the only module that imports matplotlib. Functions never run a simulation,
never call ``plt.show()`` and never touch global rcParams; they take result objects
and return a `Figure`, and `figure_bytes` renders one to PNG or SVG.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from flowsim.results import ALL, RunResult  # noqa: E402
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


def _mark_policies(ax, events: Iterable[tuple[pd.Timestamp, str, set[str]]], country: str, tz) -> None:
    shown = [e for e in events if country in e[2]]
    for i, (when, label, _) in enumerate(shown):
        x = when.tz_convert(tz).tz_localize(None)
        ax.axvline(x, color="0.35", linestyle="--", linewidth=0.8)
        ax.annotate(
            label, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -4 - 9 * (i % 3)),
            textcoords="offset points", fontsize=6.5, color="0.25", va="top", rotation=0,
        )


def daily_metric_figure(
    result: RunResult,
    metric: str = "entries",
    countries: list[str] | None = None,
    ylabel: str = "persons per local day",
) -> Figure:
    """One panel per country: the mean daily `metric` with its 90% band and policy events."""
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
        ax.fill_between(x, data["p05"], data["p95"], color="tab:blue", alpha=0.25, linewidth=0, label="90% band")
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
    fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()


def fit_figure(result: RunResult, fit: pd.DataFrame) -> Figure:
    """Simulated against reported, one panel per reporting country (or sum of countries).

    Each figure is drawn over its window as a per-day rate (a total over several days is
    divided by their number): black bars are reported values with their bounds, orange
    boxes the simulated 90% range with its median. The blue band behind is the simulated
    daily entries of the country, for context.
    """
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
        context = daily[(daily["country"] == panel) & (daily["checkpoint"] == ALL) & (daily["metric"] == "entries")]
        if len(context):
            x = pd.to_datetime(context["date"]) + pd.Timedelta(hours=12)
            ax.fill_between(x, context["p05"], context["p95"], color="tab:blue", alpha=0.15, linewidth=0)
            ax.plot(x, context["mean"], color="tab:blue", linewidth=0.8, alpha=0.6, label="simulated daily entries")
        for _, row in fit[fit["country"] == panel].iterrows():
            start = pd.Timestamp(row["start"]).tz_convert(tz).tz_localize(None)
            end = pd.Timestamp(row["end"]).tz_convert(tz).tz_localize(None)
            days = max((end - start) / pd.Timedelta(days=1), 1e-9)
            mid = start + (end - start) / 2
            value = row["value"] if pd.notna(row["value"]) else np.sqrt(
                np.nanprod([row["low"], row["high"]])) if pd.notna(row["low"]) and pd.notna(row["high"]) else (
                row["low"] if pd.notna(row["low"]) else row["high"])
            modelled = row["status"] == "ok"
            color = "black" if modelled else "0.6"
            ax.hlines(value / days, start, end, color=color, linewidth=2.2,
                      linestyles="solid" if modelled else "dotted")
            low = row["low"] / days if pd.notna(row["low"]) else None
            high = row["high"] / days if pd.notna(row["high"]) else None
            if low is not None or high is not None:
                y0 = low if low is not None else value / days
                y1 = high if high is not None else value / days
                ax.vlines(mid, y0, y1, color=color, linewidth=1)
                if low is not None and high is None:
                    ax.annotate("", xy=(mid, y0 * 1.25), xytext=(mid, y0),
                                arrowprops={"arrowstyle": "->", "color": color})
                if high is not None and low is None:
                    ax.annotate("", xy=(mid, y1 * 0.75), xytext=(mid, y1),
                                arrowprops={"arrowstyle": "->", "color": color})
            if modelled:
                ax.fill_between([start, end], row["sim_p05"] / days, row["sim_p95"] / days,
                                color="tab:orange", alpha=0.35, linewidth=0)
                ax.hlines(row["sim_p50"] / days, start, end, color="tab:orange", linewidth=1.2)
            ax.annotate(row["metric"] if row["metric"] != "entries" else "", xy=(mid, value / days),
                        fontsize=6, color="0.3", xytext=(0, 4), textcoords="offset points", ha="center")
        _mark_policies(ax, events, panel, tz)
        ax.set_title(panel, fontsize=10, loc="left")
        ax.set_ylabel("persons per day", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles = [
        Line2D([], [], color="black", linewidth=2.2, label="reported (window, bounds)"),
        Line2D([], [], color="tab:orange", linewidth=6, alpha=0.5, label="simulated 90% range, median"),
        Line2D([], [], color="0.6", linewidth=2.2, linestyle="dotted", label="reported, not modelled"),
        Line2D([], [], color="tab:blue", linewidth=0.8, label="simulated daily entries"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=7)
    fig.suptitle(f"{result.scenario.name}: simulated against reported (per-day rates over each window)", fontsize=11)
    return fig

"""What every figure shares: time axes, policy markers, the mobilization line, titles, output."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from flowsim.results import RunResult
from flowsim.scenario.schema import Scenario

#: A result object, or the folder it was written to (plots never re-run a simulation).
ResultLike = RunResult | str | Path

#: The announcement of the "partial mobilization", marked on every time axis.
MOBILIZATION = pd.Timestamp("2022-09-21 09:00", tz="Europe/Moscow")
MOBILIZATION_COLOR = "tab:red"
#: The baseline of a comparison is drawn last (on top) in this colour, kept for it.
BASELINE_COLOR = "black"
#: Colours of the other scenarios, in order.
SCENARIO_COLORS = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
]
#: Persons or vehicles per thousand, written as people read them.
THOUSANDS = FuncFormatter(lambda value, _pos: f"{value:,.0f}" if abs(value) >= 10 else f"{value:g}")


def scenario_label(result: RunResult) -> str:
    """The scenario's name and the overrides it ran with, e.g. ``x with policies.ban=null``."""
    overrides = result.metadata.overrides
    name = result.scenario.name
    return f"{name} with {', '.join(overrides)}" if overrides else name


@dataclass(frozen=True)
class PolicyEvent:
    """The start of a policy, numbered in order of time."""

    number: int
    time: pd.Timestamp
    policy: str
    countries: frozenset[str]


def policy_events(scenario: Scenario) -> list[PolicyEvent]:
    """Every policy start, numbered in order of time, with the countries it concerns."""
    by_checkpoint = {cid: cp.country for cid, cp in scenario.checkpoints.items()}
    starts = []
    for pid, spec in scenario.policies.items():
        countries: set[str] = set()
        where = getattr(spec, "where", None)
        if where is not None:
            countries |= set(where.countries) | {by_checkpoint[c] for c in where.checkpoints}
        checkpoint = getattr(spec, "checkpoint", None)
        if checkpoint is not None:
            countries.add(by_checkpoint[checkpoint])
        starts.append((pd.Timestamp(spec.start), pid, frozenset(countries)))
    starts.sort(key=lambda e: (e[0], e[1]))
    return [PolicyEvent(k, *e) for k, e in enumerate(starts, 1)]


def local(when: pd.Timestamp | str, tz: str) -> pd.Timestamp:
    """A time as the wall-clock time of `tz`, without its zone (what the axes show)."""
    return pd.Timestamp(when).tz_convert(tz).tz_localize(None)


def horizon(scenario: Scenario, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The reported part of the horizon (after any warm-up) in local time of `tz`."""
    start = scenario.horizon.warmup_end or scenario.horizon.start
    return local(start, tz), local(scenario.horizon.end, tz)


def time_axis(ax, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Limits, and day ticks dense enough to read on any span (weekly from four weeks)."""
    ax.set_xlim(start, end)
    days = (end - start) / pd.Timedelta(days=1)
    if days > 28:
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
        ax.xaxis.set_minor_locator(mdates.DayLocator())
    else:  # a label needs about 0.7 inch
        width_inches = ax.get_position().width * ax.get_figure().get_figwidth()
        interval = math.ceil(days / max(2, int(width_inches / 0.7)))
        ax.xaxis.set_major_locator(mdates.DayLocator(interval=interval))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.yaxis.set_major_formatter(THOUSANDS)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def mark_events(ax, events: list[PolicyEvent], tz: str, country: str | None = None) -> None:
    """The mobilization line and numbered lines at the policies concerning `country` (all: None).

    Numbers of policies closer than a label's width are staggered downwards.
    """
    left, right = ax.get_xlim()
    mobilization = mdates.date2num(local(MOBILIZATION, tz))
    if left <= mobilization <= right:
        ax.axvline(mobilization, color=MOBILIZATION_COLOR, linestyle=":", linewidth=1.2, zorder=1)
    width_points = ax.get_position().width * ax.get_figure().get_figwidth() * 72
    row_ends: list[float] = []  # where the last number of each row ends, in points
    for event in events:
        if country is not None and not set(country.split("+")) & event.countries:
            continue
        x = mdates.date2num(local(event.time, tz))
        if not left <= x <= right:
            continue
        ax.axvline(x, color="0.45", linestyle="--", linewidth=0.7, zorder=1)
        start = (x - left) / (right - left) * width_points - 5
        row = next((r for r, end in enumerate(row_ends) if end < start), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0.0)
        row_ends[row] = start + 6 + 5 * len(str(event.number))
        ax.annotate(
            str(event.number),
            xy=(x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -2 - 9 * row),
            textcoords="offset points",
            fontsize=6.5,
            ha="center",
            va="top",
            color="0.15",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "0.6"},
            zorder=5,
        )
    if row_ends:  # room above the curves for the numbers
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, top + (top - bottom) * (0.06 + 0.07 * len(row_ends)))


def event_handles(scenario: Scenario) -> list[Line2D]:
    """Legend entries: the mobilization line (if in the horizon) and each numbered policy."""
    handles = []
    if scenario.horizon.start <= MOBILIZATION <= scenario.horizon.end:
        handles.append(
            Line2D(
                [],
                [],
                color=MOBILIZATION_COLOR,
                linestyle=":",
                linewidth=1.2,
                label="mobilization announced (21 Sep 09:00 MSK)",
            )
        )
    for event in policy_events(scenario):
        when = event.time.tz_convert("Europe/Moscow")
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker=f"${event.number}$",
                markersize=6 + 2 * len(str(event.number)),
                color="0.15",
                label=f"{event.policy.replace('_', ' ')} ({when:%d %b %H:%M} MSK)",
            )
        )
    return handles


def legend_below(fig: Figure, handles: list, ncols: int = 3) -> None:
    """A legend under the panels."""
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=7, frameon=False)


def hide_unused(axes, used: int) -> None:
    """Hide the panels of a grid after the first `used`."""
    for ax in axes[used:]:
        ax.set_visible(False)


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 130) -> bytes:
    """Render a figure to PNG or SVG bytes; the same figure always gives the same bytes."""
    buffer = io.BytesIO()
    # No date, and SVG ids from a fixed salt. The salt is read from rcParams only, so it
    # is set for this call and restored.
    metadata = {"Date": None} if fmt == "svg" else {}
    with matplotlib.rc_context({"svg.hashsalt": "flowsim"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write a figure as ``stem.png`` and ``stem.svg``; return the paths."""
    from flowsim.atomic import atomic_write_bytes

    paths = []
    for fmt in ("png", "svg"):
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, figure_bytes(fig, fmt))
        paths.append(path)
    return paths

"""Figures of one run: daily flows per country, and queues and waits at chosen checkpoints."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from flowsim.plotting.axes import (
    ResultLike,
    event_handles,
    hide_unused,
    horizon,
    legend_below,
    mark_events,
    policy_events,
    scenario_label,
    time_axis,
)
from flowsim.plotting.reported import (
    NOT_MODELLED_COLOR,
    REPORTED_COLOR,
    SIMULATED_COLOR,
    WINDOW_COLOR,
    Place,
    draw_curve,
    draw_reported,
    place_of,
    simulated_curve,
)
from flowsim.results import RunResult, as_result

#: Checkpoints whose queues the run figure shows when the scenario has them.
QUEUE_CHECKPOINTS = ("upper_lars", "altanbulag")
#: The quantities of the queue figure: (metric, panel title, unit).
QUEUE_PANELS = (
    ("queue_vehicles", "vehicles queued (hourly)", "vehicles"),
    ("queue_km", "length of the queue (hourly)", "km"),
    ("car_wait_hours", "mean wait, admitted by car (daily)", "hours"),
    ("wait_hours", "mean wait, all admitted (daily)", "hours"),
)


def _reported_here(fit: pd.DataFrame | None, result: RunResult, metric: str, place: Place):
    """The fit-table rows of `metric` counted at exactly the checkpoints of `place`."""
    if fit is None:
        return []
    rows = fit[fit["metric"] == metric]
    here = set(place.checkpoints)
    return [row for _, row in rows.iterrows() if set(place_of(row, result).checkpoints) == here]


def _reported_handles(shown: list[pd.Series], windows: bool) -> list:
    handles = []
    if any(r["status"] == "ok" for r in shown):
        handles.append(
            Line2D([], [], color=REPORTED_COLOR, linewidth=2.2, label="reported (window, bounds)")
        )
        if windows:
            handles.append(
                Patch(color=WINDOW_COLOR, alpha=0.5, label="simulated over the same window, 90%")
            )
    if any(r["status"] != "ok" for r in shown):
        handles.append(
            Line2D(
                [],
                [],
                color=NOT_MODELLED_COLOR,
                linewidth=2.2,
                linestyle="dotted",
                label="reported, not modelled",
            )
        )
    return handles


def daily_metric_figure(
    result: ResultLike,
    metric: str = "entries",
    countries: list[str] | None = None,
    ylabel: str = "persons per local day",
    fit: pd.DataFrame | None = None,
) -> Figure:
    """One panel per country: the daily `metric` (mean, 90% band), policies, reported figures.

    With a fit table, each reported figure of `metric` for a whole country is drawn over
    its window as a rate per day, beside the curve.
    """
    result = as_result(result)
    daily = result.daily
    names = countries or sorted(daily["country"].unique())
    ncols = 2 if len(names) > 1 else 1
    nrows = (len(names) + ncols - 1) // ncols
    fig = Figure(figsize=(6.2 * ncols, 2.4 * nrows + 1.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    events = policy_events(result.scenario)
    shown: list[pd.Series] = []
    for ax, country in zip(axes, names, strict=False):
        place = place_of(pd.Series({"country": country, "checkpoint": ""}), result)
        tz = result.scenario.checkpoints[place.checkpoints[0]].timezone
        curve = simulated_curve(result, metric, place, tz)
        if curve is not None:
            draw_curve(ax, curve, "simulated mean, 90% band")
        time_axis(ax, *horizon(result.scenario, tz))
        for row in _reported_here(fit, result, metric, place):
            draw_reported(ax, row, tz, windows=False)
            shown.append(row)
        mark_events(ax, events, tz, country)
        ax.set_title(country, fontsize=10, loc="left")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_ylim(bottom=0)
    hide_unused(axes, len(names))
    handles = [
        Line2D([], [], color=SIMULATED_COLOR, linewidth=1.2, label="simulated mean, 90% band")
    ]
    handles += _reported_handles(shown, False)
    if fit is not None and len(fit) > len(shown):
        elsewhere = f"{len(fit) - len(shown)} reported figures of other places or quantities"
        handles.append(
            Line2D([], [], linestyle="none", label=f"({elsewhere}: in fit.png of flowsim validate)")
        )
    legend_below(fig, handles + event_handles(result.scenario))
    fig.suptitle(
        f"{scenario_label(result)}: simulated daily {metric.replace('_', ' ')} "
        f"({result.metadata.replications} replications, seed {result.metadata.seed}; "
        "local days)",
        fontsize=11,
    )
    return fig


def queue_checkpoints(result: RunResult) -> list[str]:
    """`QUEUE_CHECKPOINTS` the scenario has, else the two with the longest simulated queues."""
    picks = [c for c in QUEUE_CHECKPOINTS if c in result.scenario.checkpoints]
    if picks:
        return picks
    q = result.hourly_queue
    peaks = q[q["metric"] == "queue_vehicles"].groupby("checkpoint")["mean"].max()
    return list(peaks.sort_values(ascending=False).index[:2])


def checkpoint_queue_figure(
    result: ResultLike, checkpoints: list[str], fit: pd.DataFrame | None = None
) -> Figure:
    """Per checkpoint: vehicles queued, km of queue and waits, with the reported figures."""
    result = as_result(result)
    fig = Figure(
        figsize=(4.5 * len(QUEUE_PANELS), 2.6 * len(checkpoints) + 1.4), layout="constrained"
    )
    axes = fig.subplots(len(checkpoints), len(QUEUE_PANELS), squeeze=False)
    events = policy_events(result.scenario)
    shown: list[pd.Series] = []
    for row_axes, cid in zip(axes, checkpoints, strict=True):
        spec = result.scenario.checkpoints[cid]
        place = Place(cid, (spec.country,), (cid,))
        for ax, (metric, title, unit) in zip(row_axes, QUEUE_PANELS, strict=True):
            curve = simulated_curve(result, metric, place, spec.timezone)
            if curve is not None:
                draw_curve(ax, curve, "simulated")
            time_axis(ax, *horizon(result.scenario, spec.timezone))
            for row in _reported_here(fit, result, metric, place):
                draw_reported(ax, row, spec.timezone)
                shown.append(row)
            mark_events(ax, events, spec.timezone, spec.country)
            ax.set_title(f"{cid} ({spec.country}): {title}", fontsize=9, loc="left")
            ax.set_ylabel(unit, fontsize=8)
            ax.set_ylim(bottom=0)
    handles = [
        Line2D([], [], color=SIMULATED_COLOR, linewidth=1.2, label="simulated mean, 90% band")
    ]
    legend_below(fig, handles + _reported_handles(shown, True) + event_handles(result.scenario))
    fig.suptitle(
        f"{scenario_label(result)}: queues at the checkpoint (exit and entry controls) "
        f"and waits, local time ({result.metadata.replications} replications)",
        fontsize=11,
    )
    return fig


def run_figures(result: ResultLike, fit: pd.DataFrame | None = None) -> dict[str, Figure]:
    """The figures `flowsim run` writes, by file stem: daily entries and queues."""
    result = as_result(result)
    return {
        "daily_entries": daily_metric_figure(result, "entries", fit=fit),
        "queues": checkpoint_queue_figure(result, queue_checkpoints(result), fit),
    }

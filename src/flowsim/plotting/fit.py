"""The fit figure: each reported figure against the simulated curve of its quantity and place."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from flowsim.plotting.axes import (
    ResultLike,
    event_handles,
    hide_unused,
    legend_below,
    local,
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
    draw_curve,
    draw_reported,
    is_flow,
    place_of,
    simulated_curve,
)
from flowsim.results import as_result

#: Days shown before the first and after the last reported window.
MARGIN_DAYS = 3


def fit_figure(result: ResultLike, fit: pd.DataFrame) -> Figure:
    """One panel per place and quantity: reported figures over the simulated curve.

    A flow over several days is drawn as a rate per day. Black: the reported value over
    its window, with its bounds; orange: the simulated 90% range of the same figure; blue:
    the simulated daily (or, for queues, hourly) curve of the same quantity and place.
    """
    result = as_result(result)
    panels: dict[tuple, list[pd.Series]] = {}
    for _, row in fit.iterrows():
        panels.setdefault((place_of(row, result), row["metric"]), []).append(row)
    ncols = 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    fig = Figure(figsize=(6.4 * ncols, 2.5 * nrows + 1.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    events = policy_events(result.scenario)
    first = min(pd.Timestamp(t) for t in fit["start"]) - pd.Timedelta(days=MARGIN_DAYS)
    last = max(pd.Timestamp(t) for t in fit["end"]) + pd.Timedelta(days=MARGIN_DAYS)
    first = max(first, pd.Timestamp(result.scenario.horizon.start))
    last = min(last, pd.Timestamp(result.scenario.horizon.end))
    tz_of = {cp.country: cp.timezone for cp in result.scenario.checkpoints.values()}
    for ax, ((place, metric), rows) in zip(axes, panels.items(), strict=False):
        tz = tz_of[place.timezone_country]
        time_axis(ax, local(first, tz), local(last, tz))
        curve = simulated_curve(result, metric, place, tz)
        if curve is not None:
            draw_curve(ax, curve, "simulated")
        for row in rows:
            draw_reported(ax, row, tz)
        mark_events(ax, events, tz, "+".join(place.countries))
        unit = "persons per day" if is_flow(metric) else metric.split("_")[-1]
        modelled = " (not modelled)" if curve is None else ""
        ax.set_title(f"{place.label}: {metric.replace('_', ' ')}{modelled}", fontsize=9, loc="left")
        ax.set_ylabel(unit, fontsize=8)
        ax.set_ylim(bottom=0)
    hide_unused(axes, len(panels))
    handles = [
        Line2D([], [], color=REPORTED_COLOR, linewidth=2.2, label="reported (window, bounds)"),
        Patch(color=WINDOW_COLOR, alpha=0.5, label="simulated over the same window: 90%, median"),
        Line2D([], [], color=SIMULATED_COLOR, linewidth=1.2, label="simulated curve, 90% band"),
        Line2D(
            [],
            [],
            color=NOT_MODELLED_COLOR,
            linewidth=2.2,
            linestyle="dotted",
            label="reported, not modelled",
        ),
    ]
    legend_below(fig, handles + event_handles(result.scenario))
    fig.suptitle(
        f"{scenario_label(result)}: simulated against reported, local time "
        f"({result.metadata.replications} replications; flows as rates per day)",
        fontsize=11,
    )
    return fig

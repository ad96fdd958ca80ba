"""Figures of a comparison: daily entries, differences from the baseline, queues and waits.

The baseline (the first result) is drawn last, on top, in `BASELINE_COLOR`; the others
keep one colour each across figures.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from flowsim.plotting.axes import (
    BASELINE_COLOR,
    SCENARIO_COLORS,
    THOUSANDS,
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
from flowsim.plotting.reported import Place, draw_curve, place_of, simulated_curve
from flowsim.results import ALL, RunResult, as_result

#: A checkpoint whose simulated queue stays below this many vehicles in every scenario
#: is left out of the queue figure (and named in its title).
NEGLIGIBLE_VEHICLES = 10.0


def _colors(results: list[RunResult]) -> list[str]:
    return [BASELINE_COLOR] + [
        SCENARIO_COLORS[k % len(SCENARIO_COLORS)] for k in range(len(results) - 1)
    ]


def _label(result: RunResult, k: int) -> str:
    return f"{scenario_label(result)} (baseline)" if k == 0 else scenario_label(result)


def _baseline_last(results: list[RunResult]) -> list[tuple[int, RunResult, str]]:
    colors = _colors(results)
    order = [*range(1, len(results)), 0]
    return [(k, results[k], colors[k]) for k in order]


def comparison_daily_figure(results: list[ResultLike], fit: pd.DataFrame | None = None) -> Figure:
    """Daily entries per country for every scenario (mean, 90% band) and one-day reported counts."""
    results = [as_result(r) for r in results]
    base = results[0]
    countries = sorted({cp.country for r in results for cp in r.scenario.checkpoints.values()})
    nrows = (len(countries) + 1) // 2
    fig = Figure(figsize=(12.8, 2.5 * nrows + 2.0), layout="constrained")
    axes = fig.subplots(nrows, 2, squeeze=False).ravel()
    tz_of = {cp.country: cp.timezone for cp in base.scenario.checkpoints.values()}
    events = policy_events(base.scenario)
    for ax, country in zip(axes, countries, strict=False):
        tz = tz_of[country]
        for k, result, color in _baseline_last(results):
            place = place_of(pd.Series({"country": country, "checkpoint": ""}), result)
            curve = simulated_curve(result, "entries", place, tz)
            if curve is not None:
                draw_curve(ax, curve, _label(result, k), color)
        time_axis(ax, *horizon(base.scenario, tz))
        if fit is not None:
            for _, row in fit[
                (fit["country"] == country) & (fit["metric"] == "entries")
            ].iterrows():
                start, end = pd.Timestamp(row["start"]), pd.Timestamp(row["end"])
                if 0.9 < (end - start) / pd.Timedelta(days=1) < 1.1:
                    mid = (start + (end - start) / 2).tz_convert(tz).tz_localize(None)
                    value = row["value"] if pd.notna(row["value"]) else row["low"]
                    ax.plot(mid, value, "o", color="white", markeredgecolor="black", zorder=6)
        mark_events(ax, events, tz, country)
        ax.set_title(country, fontsize=10, loc="left")
        ax.set_ylabel("entries per local day", fontsize=8)
        ax.set_ylim(bottom=0)
    hide_unused(axes, len(countries))
    handles = [
        Line2D([], [], color=color, linewidth=2 if k == 0 else 1.2, label=_label(result, k))
        for k, result, color in sorted(_baseline_last(results), key=lambda e: e[0])
    ]
    if fit is not None:
        handles.append(
            Line2D(
                [],
                [],
                color="white",
                markeredgecolor="black",
                marker="o",
                linestyle="",
                label="reported (one day)",
            )
        )
    legend_below(fig, handles + event_handles(base.scenario), ncols=3)
    fig.suptitle(
        "Simulated daily entries by scenario (mean and 90% band over "
        f"{base.metadata.replications} replications; the baseline in black, on top)",
        fontsize=11,
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
        figsize=(10, 0.8 + 0.3 * len(countries) * max(len(scenarios), 1)), layout="constrained"
    )
    ax = fig.subplots()
    y = 0.0
    ticks, labels = [], []
    for country in countries:
        top = y
        for k, scenario in enumerate(scenarios):
            row = rows[(rows["country"] == country) & (rows["scenario"] == scenario)]
            if not row.empty:
                r = row.iloc[0]
                ax.errorbar(
                    r["diff_mean"],
                    y,
                    xerr=[
                        [r["diff_mean"] - r["diff_ci_low"]],
                        [r["diff_ci_high"] - r["diff_mean"]],
                    ],
                    fmt="o",
                    color=SCENARIO_COLORS[k % len(SCENARIO_COLORS)],
                    markersize=4,
                    capsize=2,
                    label=scenario if country == countries[0] else None,
                )
                y -= 1
        ticks.append((top + y + 1) / 2)
        labels.append(country)
        y -= 0.6
    ax.axvline(0, color=BASELINE_COLOR, linewidth=0.8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.xaxis.set_major_formatter(THOUSANDS)
    ax.set_xlabel(
        f"difference in {metric.replace('_', ' ')} over the horizon from {baseline} "
        "(persons; mean and paired 95% CI)",
        fontsize=8,
    )
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def _negligible(results: list[RunResult], cid: str) -> bool:
    peaks = []
    for result in results:
        q = result.hourly_queue
        peaks.append(q[(q["checkpoint"] == cid) & (q["metric"] == "queue_vehicles")]["mean"].max())
    return max(peaks) < NEGLIGIBLE_VEHICLES


def queue_figure(results: list[ResultLike], checkpoints: list[str]) -> Figure:
    """Vehicles queued (hourly) and mean wait (daily) at some checkpoints, every scenario.

    Checkpoints whose queue stays under `NEGLIGIBLE_VEHICLES` in every scenario are left
    out and named in the title.
    """
    results = [as_result(r) for r in results]
    base = results[0]
    dropped = [c for c in checkpoints if _negligible(results, c)]
    shown = [c for c in checkpoints if c not in dropped] or checkpoints[:1]
    fig = Figure(figsize=(12.8, 2.5 * len(shown) + 2.0), layout="constrained")
    axes = fig.subplots(len(shown), 2, squeeze=False)
    events = policy_events(base.scenario)
    for row_axes, cid in zip(axes, shown, strict=True):
        spec = base.scenario.checkpoints[cid]
        place = Place(cid, (spec.country,), (cid,))
        for ax, metric in zip(row_axes, ("queue_vehicles", "wait_hours"), strict=True):
            for k, result, color in _baseline_last(results):
                curve = simulated_curve(result, metric, place, spec.timezone)
                if curve is not None:
                    curve[["p05", "p95"]] = float("nan")  # means only: eight bands hide each other
                    draw_curve(ax, curve, _label(result, k), color)
            time_axis(ax, *horizon(base.scenario, spec.timezone))
            mark_events(ax, events, spec.timezone, spec.country)
            ax.set_ylim(bottom=0)
        row_axes[0].set_title(f"{cid}: vehicles queued (hourly mean)", fontsize=9, loc="left")
        row_axes[1].set_title(
            f"{cid}: mean hours from arrival to admission (daily)", fontsize=9, loc="left"
        )
        row_axes[0].set_ylabel("vehicles", fontsize=8)
        row_axes[1].set_ylabel("hours", fontsize=8)
    handles = [
        Line2D([], [], color=color, linewidth=1.2, label=_label(result, k))
        for k, result, color in sorted(_baseline_last(results), key=lambda e: e[0])
    ]
    legend_below(fig, handles + event_handles(base.scenario), ncols=3)
    note = (
        f"; left out, queue under {NEGLIGIBLE_VEHICLES:g} vehicles throughout: {', '.join(dropped)}"
        if dropped
        else ""
    )
    fig.suptitle(
        f"Queues and waits by scenario, local time (means over {base.metadata.replications} "
        f"replications){note}",
        fontsize=10,
    )
    return fig

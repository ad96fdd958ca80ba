"""The plotting module: every figure renders to PNG and SVG, from a result or its folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import build
from test_compare import BAN, renamed
from test_policies import two_borders

import flowsim
from flowsim.compare import compare
from flowsim.errors import RunError
from flowsim.inference.fit import validate
from flowsim.inference.observations import COLUMNS, load_observations
from flowsim.plotting import (
    comparison_daily_figure,
    daily_metric_figure,
    difference_figure,
    fit_figure,
    policy_events,
    queue_figure,
    save_figure,
)
from flowsim.results import read_result
from flowsim.scenario.loader import deep_merge

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A small run, written to a folder, and the result object."""
    result = flowsim.run(
        build(two_borders(informed_share=0.5)), replications=3, seed=2, workers=1, progress=False
    )
    folder = tmp_path_factory.mktemp("plots") / "run"
    result.write(folder)
    return result, folder


def assert_rendered(paths, min_png_bytes=5000):
    png, svg = sorted(paths, key=lambda p: p.suffix)
    assert (
        png.suffix == ".png"
        and png.read_bytes()[:8] == PNG_MAGIC
        and png.stat().st_size > min_png_bytes
    )
    assert (
        svg.suffix == ".svg"
        and svg.read_text().lstrip().startswith("<?xml")
        and "</svg>" in svg.read_text()
    )


def test_a_result_folder_reads_back_as_the_result(written):
    result, folder = written
    again = read_result(folder)
    pd.testing.assert_frame_equal(
        again.daily.reset_index(drop=True), result.daily.reset_index(drop=True), check_dtype=False
    )
    assert (again.hourly.flows == result.hourly.flows).all()
    assert again.scenario.name == result.scenario.name and again.metadata == result.metadata


def test_a_folder_that_is_not_a_result_is_a_one_line_error(tmp_path):
    (tmp_path / "daily.csv").write_text("date\n")
    with pytest.raises(
        RunError, match=r"not a complete flowsim result folder: scenario.resolved.yaml is missing"
    ):
        read_result(tmp_path)


@pytest.mark.parametrize("source", ["object", "folder"])
def test_daily_and_queue_figures_render(written, tmp_path, source):
    result, folder = written
    given = result if source == "object" else str(folder)
    assert_rendered(save_figure(daily_metric_figure(given, "entries"), tmp_path / "daily"))
    assert_rendered(save_figure(queue_figure([given], ["gate"]), tmp_path / "queue"))


def test_fit_comparison_and_difference_figures_render(written, tmp_path):
    result, folder = written
    csv = tmp_path / "obs.csv"
    csv.write_text(
        ",".join(COLUMNS)
        + "\n"
        + "d,Testland,,entries,2022-09-02T00:00:00+03:00,2022-09-03T00:00:00+03:00,100,,,test,\n"
        + "w,Testland,gate,entries,2022-09-02T00:00:00+03:00,"
        "2022-09-04T00:00:00+03:00,,150,400,test,\n"
    )
    fit = validate(result, load_observations(csv, result.scenario))
    assert (fit["status"] == "ok").all()
    assert_rendered(save_figure(fit_figure(folder, fit), tmp_path / "fit"))
    data = two_borders(informed_share=0.5)
    comparison = compare(
        [build(data), build(renamed(deep_merge(data, {"policies": BAN}), "ban"))],
        replications=3,
        seed=2,
        workers=1,
        progress=False,
    )
    assert_rendered(save_figure(comparison_daily_figure(comparison.results), tmp_path / "all"))
    assert_rendered(save_figure(difference_figure(comparison.table), tmp_path / "diff"))


def _obs(tmp_path, rows):
    csv = tmp_path / "obs.csv"
    csv.write_text(",".join(COLUMNS) + "\n" + "".join(f"{r},test,\n" for r in rows))
    return csv


DAY2 = "2022-09-02T00:00:00+03:00,2022-09-03T00:00:00+03:00"


def _curves(ax):
    """The data lines of a panel (not the policy or mobilization lines)."""
    return [line for line in ax.lines if len(line.get_xdata()) > 2]


def test_policies_are_numbered_in_time_order_and_the_mobilization_is_marked_in_its_horizon():
    from flowsim.plotting.axes import event_handles

    two = {f"p{k}": {**BAN["ban"], "start": f"2022-09-0{k}T00:00:00+03:00"} for k in (4, 2, 3)}
    scenario = build(two_borders(two))
    assert [(e.number, e.policy) for e in policy_events(scenario)] == [
        (1, "p2"),
        (2, "p3"),
        (3, "p4"),
    ]
    labels = [h.get_label() for h in event_handles(scenario)]
    assert labels == ["p2 (02 Sep 00:00 MSK)", "p3 (03 Sep 00:00 MSK)", "p4 (04 Sep 00:00 MSK)"]
    later = build(
        deep_merge(
            two_borders(),
            {"horizon": {"start": "2022-09-18T00:00:00+03:00", "end": "2022-09-24T00:00:00+03:00"}},
        )
    )
    assert [h.get_label() for h in event_handles(later)] == [
        "mobilization announced (21 Sep 09:00 MSK)"
    ]


def test_the_run_figure_draws_the_reported_figures_and_names_the_overrides(written, tmp_path):
    result, _ = written
    result = result.with_provenance(overrides=("policies.ban=null",))
    fit = validate(
        result,
        load_observations(_obs(tmp_path, [f"d,Testland,,entries,{DAY2},1234,,"]), result.scenario),
    )
    fig = daily_metric_figure(result, "entries", fit=fit)
    assert fig.get_suptitle().startswith("single with policies.ban=null: simulated daily entries")
    testland = next(ax for ax in fig.axes if ax.get_title(loc="left") == "Testland")
    drawn = [seg[0][1] for c in testland.collections for seg in getattr(c, "get_segments", list)()]
    assert 1234 in drawn  # the reported value over its one-day window


def test_the_fit_figure_draws_each_figure_against_the_curve_of_its_quantity_and_place(
    written, tmp_path
):
    result, _ = written
    rows = [
        f"a,Testland,,entries,{DAY2},1000,,",
        "b,Testland,gate,queue_km,2022-09-03T12:00:00+03:00,2022-09-03T12:00:00+03:00,2,,",
        f"c,Testland+Otherland,,entries,{DAY2},,1500,",
    ]
    fit = validate(result, load_observations(_obs(tmp_path, rows), result.scenario))
    fig = fit_figure(result, fit)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    assert titles == ["Testland: entries", "Testland: queue km", "Testland+Otherland: entries"]
    km = next(ax for ax in fig.axes if ax.get_title(loc="left") == "Testland: queue km")
    q = result.hourly_queue
    gate_km = q[(q.checkpoint == "gate") & (q.metric == "queue_km")]["mean"].to_numpy()
    assert (_curves(km)[0].get_ydata() == gate_km).all()  # the gate's hourly queue, not entries
    both = next(ax for ax in fig.axes if ax.get_title(loc="left") == "Testland+Otherland: entries")
    d = result.daily
    total = d[(d.checkpoint == "all") & (d.metric == "entries")].groupby("date")["mean"].sum()
    assert _curves(both)[0].get_ydata() == pytest.approx(total.to_numpy())
    # a readable time axis: several day ticks on every panel
    assert all(len(ax.get_xticks()) >= 3 for ax in fig.axes if ax.get_visible())


def test_the_queue_figure_draws_the_reported_queues(written, tmp_path):
    from flowsim.plotting import checkpoint_queue_figure

    result, _ = written
    # the row of a fit table, as validate writes it (a snapshot reported between bounds)
    fit = pd.DataFrame(
        [
            {"id": "q", "metric": "queue_vehicles", "value": None, "low": 5.0, "high": 9.0}
            | {"sim_p05": 1.0, "sim_p50": 2.0, "sim_p95": 3.0, "status": "ok"}
            | {"country": "Testland", "checkpoint": "gate"}
            | {"start": "2022-09-03T12:00:00+03:00", "end": "2022-09-03T12:00:00+03:00"}
        ]
    )
    fig = checkpoint_queue_figure(result, ["gate"], fit)
    vehicles = fig.axes[0]
    assert vehicles.get_title(loc="left") == "gate (Testland): vehicles queued (hourly)"
    points = [line for line in vehicles.lines if line.get_marker() == "o"]
    assert len(points) == 1 and points[0].get_ydata()[0] == pytest.approx(45**0.5)


def test_comparison_figures_draw_the_baseline_last_in_its_colour_and_share_the_horizon(tmp_path):
    from flowsim.plotting.axes import BASELINE_COLOR

    data = two_borders(informed_share=0.5)
    results = compare(
        [build(data), build(renamed(deep_merge(data, {"policies": BAN}), "ban"))],
        replications=2,
        seed=2,
        workers=1,
        progress=False,
    ).results
    for fig in (comparison_daily_figure(results), queue_figure(results, ["gate", "other"])):
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len({ax.get_xlim() for ax in panels}) == 1
        for ax in panels:
            assert _curves(ax)[-1].get_color() == BASELINE_COLOR
            assert _curves(ax)[-1].get_label() == "single (baseline)"


def test_a_checkpoint_with_a_negligible_queue_is_left_out_and_named(written):
    result, _ = written
    q = result.hourly_queue
    quiet = q.assign(mean=np.where(q["checkpoint"] == "other", 0.5, 50.0))
    from dataclasses import replace

    fig = queue_figure([replace(result, hourly_queue=quiet)], ["gate", "other"])
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert not any(t.startswith("other") for t in titles)
    assert fig.get_suptitle().endswith("queue under 10 vehicles throughout: other")

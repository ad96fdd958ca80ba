"""The plotting module: every figure renders to PNG and SVG, from a result or its folder."""

from __future__ import annotations

import pandas as pd
import pytest
from builders import build
from test_compare import BAN, renamed
from test_policies import two_borders

import flowsim
from flowsim.compare import compare
from flowsim.errors import RunError
from flowsim.fit import validate
from flowsim.observations import COLUMNS, load_observations
from flowsim.plotting import (
    comparison_daily_figure,
    daily_metric_figure,
    difference_figure,
    fit_figure,
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

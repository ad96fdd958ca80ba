"""Holding figures out of a calibration: which figures a selector names, and what the CLI does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_calibration import scenario_file, truth_observations

import flowsim
from flowsim.cli import main
from flowsim.errors import RunError
from flowsim.inference.holdout import held_out, split_selectors
from flowsim.inference.observations import load_observations

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def history():
    """The historical scenario's 34 reported figures."""
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "historical_2022.yaml")
    return load_observations(ROOT / "calibration" / "observations.csv", scenario)


def test_selectors_name_figures_by_id_metric_country_checkpoint_and_day(history):
    every = {o.id for o in history}
    assert held_out(history, ["R-*"]) == {i for i in every if i.startswith("R-")}
    assert held_out(history, ["metric:queue_km"]) == {"R-UL-K26"}
    assert held_out(history, ["checkpoint:upper_lars"]) == {"R-UL-Q26", "R-UL-K26", "R-UL-W"}
    norway = held_out(history, ["country:Norway"])
    assert norway == {"S4_no_storskog_2022-09-25", "R-NO-0926"}
    # A calendar day ending at midnight does not touch the next day; a 10:00-to-10:00 one does.
    assert held_out(history, ["date:2022-10-01"]) == {"R-FI-REF"}  # refusals 30 Sep-3 Oct
    assert "S0_ge_2022-09-29" in held_out(history, ["date:2022-09-30"])
    assert held_out(history, split_selectors(["R-KZ-1003, metric:refusals", "country:Norway"])) == {
        "R-KZ-1003",
        "R-FI-REF",
        *norway,
    }


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("R-XX-*", "--hold-out: 'R-XX-*' names no observation"),
        ("metrc:entries", "--hold-out: 'metrc:entries' names no observation (fields: id:, "),
        ("date:3 Oct", "--hold-out: 'date:3 Oct': expected a date as YYYY-MM-DD"),
        ("metric:", "--hold-out: 'metric:': no value after metric:"),
        ("*", "--hold-out: every observation is held out: nothing is left to tune on"),
    ],
)
def test_a_selector_that_names_nothing_useful_is_an_error(history, selector, message):
    with pytest.raises(RunError) as caught:
        held_out(history, [selector])
    assert str(caught.value).startswith(message)


@pytest.mark.slow
def test_calibrate_tunes_without_the_held_out_figures_and_reports_them_apart(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    out = tmp_path / "cal"
    command = ["calibrate", str(path), "--observations", str(csv), "-n", "1", "--budget", "4",
               "--pilot-replications", "2", "--validation-replications", "2", "-j", "1", "-q",
               "--out", str(out), "--hold-out", "other4,gate4"]  # fmt: skip
    assert main(command) == 0
    printed = capsys.readouterr().out
    # The objective never saw them: the pilot estimated variances of the other four only.
    pilot = json.loads((out / "pilot.json").read_text())
    assert set(pilot["log_variance"]) == {"gate2", "gate3", "other2", "other3"}
    fit = pd.read_csv(out / "validation" / "fit.csv").set_index("id")
    assert fit["held_out"].to_dict() == {
        i: i.endswith("4") for i in ("gate2", "gate3", "gate4", "other2", "other3", "other4")
    }
    summary = pd.read_csv(out / "fit_summary.csv").set_index("group")
    assert summary.loc["held out", "figures"] == 2 and summary.loc["tuned on", "figures"] == 4
    assert "held out" in printed and "tuned on" in printed
    header = (out / "fitted.yaml").read_text()
    assert "# Held out of the calibration (not tuned on): gate4, other4" in header
    # validate labels the same figures when told which they were
    val = tmp_path / "val"
    argv = ["validate", str(out / "fitted.yaml"), "--observations", str(csv), "-n", "1", "-j",
            "1", "-q", "--out", str(val), "--hold-out", "*4"]  # fmt: skip
    assert main(argv) == 0
    assert pd.read_csv(val / "fit.csv")["held_out"].sum() == 2
    assert set(pd.read_csv(val / "fit_summary.csv")["group"]) >= {"held out", "tuned on"}


def test_a_bad_selector_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    out = tmp_path / "cal"
    command = ["calibrate", str(path), "--observations", str(csv), "--out", str(out), "-q",
               "--hold-out", "metric:queue_km"]  # fmt: skip
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err == "flowsim: error: --hold-out: 'metric:queue_km' names no observation\n"
    assert not out.exists()

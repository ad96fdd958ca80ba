"""Calibration: parameters fitted back from data simulated with known values; resuming; the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import single_checkpoint

import flowsim
from flowsim.cli import main
from flowsim.inference.calibration import calibrate
from flowsim.inference.observations import COLUMNS, load_observations
from flowsim.scenario.loader import deep_merge

TRUE_RATE, TRUE_ATTRACT = 600.0, 0.8


def scenario_file(tmp_path):
    """Two borders; the demand level and the second border's pull are parameters."""
    data = single_checkpoint(
        arrivals_per_hour=10,
        service_minutes={"dist": "exponential", "mean": 3.0},
        lanes=2,
        days=4,
        party_size={"dist": "fixed", "value": 2},
    )
    other = {**data["checkpoints"]["gate"], "country": "Otherland"}
    data = deep_merge(
        data,
        {
            "parameters": {
                "rate": {
                    "value": 300.0,
                    "lower": 100.0,
                    "upper": 1500.0,
                    "source": "assumption",
                    "calibrate": True,
                },
                "attract": {
                    "value": 0.0,
                    "lower": -2.0,
                    "upper": 2.0,
                    "source": "assumption",
                    "calibrate": True,
                },
            },
            "countries": {"Otherland": {"attractiveness": "$attract"}},
            "checkpoints": {"other": other},
            "demand": {
                "origins": {"home": {"baseline_per_day": "$rate", "travel_hours": {"other": 0.0}}}
            },
        },
    )
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def truth_observations(path, tmp_path):
    truth = flowsim.load_scenario(
        path, [f"parameters.rate.value={TRUE_RATE}", f"parameters.attract.value={TRUE_ATTRACT}"]
    )
    result = flowsim.run(truth, replications=8, seed=123, workers=1, progress=False)
    daily = result.daily
    rows = []
    for country, cid in (("Testland", "gate"), ("Otherland", "other")):
        for day in (2, 3, 4):
            value = daily[
                (daily.checkpoint == cid)
                & (daily.metric == "entries")
                & (daily.date == pd.Timestamp(f"2022-09-0{day}").date())
            ]["mean"].item()
            rows.append(
                [
                    f"{cid}{day}",
                    country,
                    cid,
                    "entries",
                    f"2022-09-0{day}T00:00:00+03:00",
                    f"2022-09-0{day + 1}T00:00:00+03:00",
                    f"{value:.0f}",  # a reported count is whole
                    "",
                    "",
                    "truth",
                    "",
                ]
            )
    csv = tmp_path / "obs.csv"
    csv.write_text("\n".join([",".join(COLUMNS)] + [",".join(r) for r in rows]) + "\n")
    return csv


def test_recovers_known_parameters(tmp_path):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    result = calibrate(
        str(path),
        observations,
        replications=3,
        seed=7,
        workers=1,
        budget=60,
        out_dir=tmp_path / "cal",
        reporting_error=0.05,
        method="point",
    )
    fitted = result.fitted_values
    assert fitted["rate"] == pytest.approx(TRUE_RATE, rel=0.08)
    assert fitted["attract"] == pytest.approx(TRUE_ATTRACT, abs=0.25)
    table = result.params.set_index("name")
    assert table.loc["rate", "identified"]
    assert (
        table.loc["rate", "ci_low"] <= TRUE_RATE <= table.loc["rate", "ci_high"]
        or abs(fitted["rate"] / TRUE_RATE - 1) < 0.03
    )


def test_unidentifiable_parameter_is_reported_as_such(tmp_path):
    path = scenario_file(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["parameters"]["unused"] = {
        "value": 1.0,
        "lower": 0.0,
        "upper": 5.0,
        "source": "assumption",
    }
    data["attributes"]["man"]["share"] = 0.5
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    result = calibrate(
        str(path),
        observations,
        params=["rate", "unused"],
        replications=2,
        seed=7,
        workers=1,
        budget=25,
        out_dir=tmp_path / "cal",
        method="point",
    )
    table = result.params.set_index("name")
    assert not table.loc["unused", "identified"]


@pytest.mark.slow
def test_resumed_calibration_replays_the_log_and_reaches_the_same_result(tmp_path):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    kwargs = {"replications": 2, "seed": 7, "workers": 1, "budget": 16}
    full = calibrate(str(path), observations, out_dir=tmp_path / "full", **kwargs)
    # An interrupted run: the first 7 evaluations are on disk, the process died.
    lines = (tmp_path / "full" / "evaluations.jsonl").read_text().splitlines()
    (tmp_path / "cut").mkdir()
    shutil.copy(tmp_path / "full" / "calibration.json", tmp_path / "cut")  # written before any
    (tmp_path / "cut" / "evaluations.jsonl").write_text("\n".join(lines[:7]) + "\n" + lines[7][:20])
    calls = []
    resumed = calibrate(
        str(path),
        observations,
        out_dir=tmp_path / "cut",
        progress=lambda: calls.append(1),
        **kwargs,
    )
    assert resumed.fitted_values == full.fitted_values
    assert len(calls) == full.evaluations - 7  # the logged evaluations were not run again


@pytest.mark.slow
def test_pilot_variances_are_estimated_once_and_kept_for_a_resume(tmp_path):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    kwargs = {"replications": 2, "seed": 7, "workers": 1, "budget": 6, "out_dir": tmp_path / "cal"}
    first = calibrate(str(path), observations, pilot_replications=4, **kwargs)
    pilot = json.loads((tmp_path / "cal" / "pilot.json").read_text())
    assert pilot["replications"] == 4
    assert set(pilot["log_variance"]) == {o.id for o in observations}
    assert all(v > 0 for v in pilot["log_variance"].values())
    # A second run over the same folder reads pilot.json and replays the log: nothing runs again.
    calls = []
    again = calibrate(
        str(path), observations, pilot_replications=4, progress=lambda: calls.append(1), **kwargs
    )
    assert again.fitted_values == first.fitted_values and not calls


@pytest.mark.slow
def test_cli_calibrate_and_validate(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    out = tmp_path / "cal"
    code = main(
        [
            "calibrate",
            str(path),
            "--observations",
            str(csv),
            "-n",
            "2",
            "--budget",
            "8",
            "-j",
            "1",
            "--validation-replications",
            "2",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    fitted = out / "fitted.yaml"
    text = fitted.read_text()
    assert "flowsim calibrate" in text and "extends:" in text
    scenario = flowsim.load_scenario(fitted)
    assert scenario.parameters["rate"].value != 300.0
    fit = pd.read_csv(out / "fit.csv")
    assert list(fit.columns) == [
        "id",
        "metric",
        "value",
        "low",
        "high",
        "sim_p05",
        "sim_p50",
        "sim_p95",
        "log_error",
        "covered",
        "pred_p05",
        "pred_p50",
        "pred_p95",
        "covered_pred",
        "status",
        "held_out",
    ]
    assert not fit["held_out"].any()
    assert (out / "fit.png").stat().st_size > 1000
    params = pd.read_csv(out / "parameters.csv")
    assert set(params["name"]) == {"rate", "attract"}
    code = main(
        [
            "validate",
            str(fitted),
            "--observations",
            str(csv),
            "-n",
            "2",
            "-j",
            "1",
            "--out",
            str(tmp_path / "val"),
            "-q",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "median |log error|" in printed and "coverage" in printed
    assert json.loads((tmp_path / "val" / "metadata.json").read_text())["replications"] == 2
    assert np.isfinite(pd.read_csv(tmp_path / "val" / "fit.csv")["log_error"]).all()


def test_a_resumed_calibration_refuses_a_log_made_with_other_inputs(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    other = tmp_path / "other.csv"
    other.write_text(csv.read_text().replace("truth", "other", 1).replace(",1", ",2", 1))
    out = tmp_path / "cal"
    command = ["calibrate", str(path), "--observations", str(csv), "-n", "1", "--budget", "2",
               "--pilot-replications", "1", "--method", "point", "--validation-replications", "1",
               "-j", "1", "-q",
               "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    log = (out / "evaluations.jsonl").read_text()
    changes = {
        "observations": ["--observations", str(other)],
        "seed": ["--seed", "8"],
        "number of replications (-n)": ["-n", "2"],
        "--reporting-error": ["--reporting-error", "0.2"],
        "resolved scenario (file, extends or --set), parameters or their bounds (--params)": [
            "--set",
            "parameters.rate.upper=1400",
        ],
        "parameters or their bounds (--params)": ["--params", "rate"],
    }
    capsys.readouterr()
    for what, extra in changes.items():
        assert main([*command, *extra]) == 2, what
        assert capsys.readouterr().err == (
            f"flowsim: error: {out / 'evaluations.jsonl'}: the evaluations kept here were made "
            f"with another {what}; pass --force to start afresh, or choose another --out\n"
        )
    assert (out / "evaluations.jsonl").read_text() == log
    assert main([*command, "--seed", "8", "--force"]) == 0  # starts afresh
    assert (out / "evaluations.jsonl").read_text() != log
    assert main([*command, "--seed", "8"]) == 0  # and resumes its own log


def test_the_budget_is_a_hard_cap_and_an_unconverged_fit_says_so(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    out = tmp_path / "cal"
    command = ["calibrate", str(path), "--observations", str(csv), "-n", "1", "--budget", "3",
               "--pilot-replications", "1", "--method", "point", "--validation-replications", "1",
               "-j", "1", "-q",
               "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    records = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
    assert len(records) == 3
    best = min(records, key=lambda r: r["loss"])
    params = pd.read_csv(out / "parameters.csv").set_index("name")
    for name, value in best["values"].items():
        assert params.loc[name, "fitted"] == pytest.approx(value)
    assert not params["identified"].any() and not params["converged"].any()
    fitted = out / "fitted.yaml"
    assert "# NOT CONVERGED: the budget of 3 evaluations was spent" in fitted.read_text()
    assert f"at the best point evaluated: {best['loss']:.3f}" in fitted.read_text()
    assert "flowsim: warning: not converged: the budget of 3" in capsys.readouterr().err
    scenario = flowsim.load_scenario(fitted)
    assert scenario.name == "single_calibrated"  # its own name, not the input's


def test_identified_needs_a_profile_that_rises_on_both_sides():
    from flowsim.inference.calibration import FreeParameter, _profile

    def falling(unit):
        return 1.0 - 0.01 * unit[0]  # still falling to the right: no minimum at 0.5

    falling.params = [FreeParameter("a", 0.0, 1.0, 0.5, "assumption")]
    (row,) = _profile(falling, np.array([0.5]), 0.995, converged=True)
    assert not row["identified"] and row["se"] == float("inf")


@pytest.mark.slow
def test_cli_calibrate_shows_the_pilot_then_the_evaluations_with_their_total(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    argv = ["calibrate", str(path), "--observations", str(csv), "-n", "1", "--budget", "3"]
    argv += ["--pilot-replications", "2", "--validation-replications", "1", "-j", "1"]
    assert main([*argv, "--out", str(tmp_path / "cal")]) == 0
    err = capsys.readouterr().err
    assert "pilot run (2 replications)" in err
    assert "evaluations (at most 3)" in err and "/3 [" in err
    assert err.index("pilot run") < err.index("evaluations")


def test_calibrate_help_states_the_true_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "replications per evaluation (default: 2)" in text
    assert (
        "most evaluations of -n replications each, profiles or waves included (default: 80)" in text
    )
    assert "(default: posterior)" in text
    assert "(default: the scenario's)" not in text


def test_an_edit_of_the_scenario_during_a_calibration_does_not_change_its_model(tmp_path):
    """Every evaluation uses the scenario as read at the start, not the file as it is now."""
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    kwargs = {
        "replications": 1,
        "seed": 7,
        "workers": 1,
        "budget": 5,
        "pilot_replications": 1,
        "method": "point",
    }
    untouched = calibrate(str(path), observations, out_dir=tmp_path / "a", **kwargs)
    original = path.read_text()
    edited = yaml.safe_load(original)
    edited["demand"]["classes"]["car"]["party_size"]["value"] = 3  # more persons per party

    def edit_the_file() -> None:
        path.write_text(yaml.safe_dump(edited, sort_keys=False))

    during = calibrate(
        str(path), observations, out_dir=tmp_path / "b", progress=edit_the_file, **kwargs
    )
    assert path.read_text() != original  # the file did change after the first evaluation
    assert during.best_loss == untouched.best_loss
    assert during.fitted_values == untouched.fitted_values


def test_a_fitted_scenario_warns_when_its_base_changed_after_the_calibration(tmp_path, capsys):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    out = tmp_path / "cal"
    command = ["calibrate", str(path), "--observations", str(csv), "-n", "1", "--budget", "2",
               "--pilot-replications", "1", "--method", "point", "--validation-replications", "1",
               "-j", "1", "-q",
               "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    fitted = out / "fitted.yaml"
    capsys.readouterr()
    assert main(["check", str(fitted)]) == 0
    assert "warning" not in capsys.readouterr().err
    data = yaml.safe_load(path.read_text())
    data["checkpoints"]["gate"]["modes"]["car"]["exit"]["lanes"] = 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["check", str(fitted)]) == 0
    assert capsys.readouterr().err == (
        f"flowsim: warning: {fitted}: extends: ../two.yaml has changed since this file was "
        "calibrated on it: the fitted values were fitted to another model; rerun flowsim "
        "calibrate\n"
    )


def calibrate_two_borders(tmp_path, budget):
    """One replication per evaluation, into ``tmp_path / "a"`` (a second call replays it)."""
    path = tmp_path / "two.yaml"
    if not path.exists():
        scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    kwargs = {
        "replications": 1,
        "seed": 7,
        "workers": 1,
        "pilot_replications": 1,
        "method": "point",
    }
    return calibrate(str(path), observations, out_dir=tmp_path / "a", budget=budget, **kwargs)


def test_an_optimizer_that_overruns_its_share_leaves_the_profiles_theirs(tmp_path, monkeypatch):
    """Nelder-Mead may pass its maxfev in an iteration; the last 2n evaluations stay profiles."""
    import flowsim.inference.calibration as calibration

    def overrunning(fun, x0, method, bounds, options):
        for k in range(options["maxfev"] + 5):  # as a shrink step would
            fun(np.clip(np.asarray(x0) - 0.01 * (k + 1), 0.0, 1.0))
        raise AssertionError("the objective should have stopped the optimizer")

    monkeypatch.setattr(calibration, "minimize", overrunning)
    result = calibrate_two_borders(tmp_path, budget=12)
    assert result.evaluations == 12 and not result.converged
    records = [json.loads(line) for line in (tmp_path / "a" / "evaluations.jsonl").open()]
    optimizer, profile = records[:8], records[8:]
    best = np.array(min(optimizer, key=lambda r: r["loss"])["unit"])
    for record in profile:
        moved = np.flatnonzero(~np.isclose(np.array(record["unit"]), best))
        assert moved.size == 1, "a profile point moves one parameter from the optimizer's best"


def test_profiles_stand_as_evidence_when_none_is_left_for_a_better_point(tmp_path, monkeypatch):
    """A profile point beats the best; with no budget to profile it, the first profiles are kept."""
    from scipy.optimize import OptimizeResult

    import flowsim.inference.calibration as calibration

    near_truth = np.array([(TRUE_RATE - 100.0) / 1400.0, (TRUE_ATTRACT + 2.0) / 4.0 - 0.08])

    def away_from_the_truth(fun, x0, method, bounds, options):
        for k in range(options["maxfev"]):
            fun(np.clip(near_truth - 0.02 * k, 0.0, 1.0))
        return OptimizeResult(success=True, status=0, message="converged")

    monkeypatch.setattr(calibration, "minimize", away_from_the_truth)
    result = calibrate_two_borders(tmp_path, budget=12)
    params = result.params.set_index("name")
    assert result.stopped == "a profile evaluation improved on the optimum"
    assert params.loc["attract", "fitted"] == pytest.approx(TRUE_ATTRACT, abs=0.01), "better point"
    assert np.isfinite(params.loc["rate", "se"]), "the rate's profile around the first best"
    assert not params["identified"].any()
    replayed = calibrate_two_borders(tmp_path, budget=12)
    pd.testing.assert_frame_equal(replayed.params, result.params)
    assert replayed.stopped == result.stopped

"""The posterior method: emulator, sampler, likelihood on arrays, and calibration end to end."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_calibration import TRUE_ATTRACT, TRUE_RATE, scenario_file, truth_observations

import flowsim
from flowsim.cli import main
from flowsim.inference.calibration import calibrate
from flowsim.inference.emulator import Emulator, ResidualProcess, VarianceTrend, n_features
from flowsim.inference.likelihood import log_likelihood, log_likelihood_array
from flowsim.inference.observations import Observation, load_observations
from flowsim.inference.posterior import (
    EmulatedLikelihood,
    Evidence,
    fit_emulator,
    sample,
    unbiased_log_variance,
)

T0 = dt.datetime(2022, 9, 1, tzinfo=dt.UTC)


def child_of(folder, fitted, lines: str):
    """A scenario in `folder` that extends `fitted` and adds `lines`."""
    import os

    child = folder / "child.yaml"
    child.write_text(f"extends: {os.path.relpath(fitted, folder)}\n{lines}")
    return child


def observation(value=None, low=None, high=None, oid="x") -> Observation:
    return Observation(oid, ("A",), ("gate",), "entries", T0, T0, value, low, high, "", "", 1)


@pytest.mark.parametrize(
    "value, low, high",
    [(100.0, None, None), (None, 50.0, None), (None, None, 500.0), (None, 50.0, 500.0),
     (None, 1e4, 1.0001e4), (None, 100.0, 100.0)],
)  # fmt: skip
def test_the_likelihood_on_arrays_is_the_scalar_one(value, low, high):
    obs = observation(value, low, high)
    means = np.array([0.0, 3.0, 4.6, 6.2, 9.2, 15.0, 30.0])
    sigma = 0.25
    vector = log_likelihood_array(obs, means, np.full(means.size, sigma))
    # The scalar version with one replication and the same total variance.
    scalar = [log_likelihood(obs, np.array([math.expm1(m)]), 0.1, sigma**2 - 0.01) for m in means]
    np.testing.assert_allclose(vector, scalar, rtol=1e-9, atol=1e-9)


def test_a_quadratic_is_emulated_exactly_and_unsure_only_away_from_the_points():
    rng = np.random.default_rng(1)
    units = rng.uniform(size=(60, 2))
    truth = lambda u: 1 + 2 * u[:, 0] - u[:, 1] + 3 * u[:, 0] * u[:, 1] - u[:, 1] ** 2  # noqa: E731
    targets = truth(units)[:, None]
    emulator = Emulator.fit(units, targets, np.array([1e-6]), units[0], ("f",), True)
    emulator = emulator.with_residual(units, targets)
    inside = rng.uniform(0.2, 0.8, size=(20, 2))
    mean, var = emulator.predict(inside)
    np.testing.assert_allclose(mean[:, 0], truth(inside), atol=1e-3)
    _, far = emulator.predict(np.array([[4.0, -3.0]]))
    assert far[0, 0] > 100 * var.max()


def test_the_residual_process_follows_what_the_quadratic_misses():
    units = np.linspace(0, 1, 40)[:, None]
    wave = np.sin(12 * units)
    process = ResidualProcess.fit(units, wave)
    between = (units[:-1] + units[1:]) / 2
    mean, var = process.predict(between)
    assert np.abs(mean - np.sin(12 * between)).max() < 0.05
    assert var.max() < 0.01


def test_the_log_variance_of_two_replications_is_unbiased():
    """E[log s^2] = log sigma^2 + psi(k/2) - log(k/2): corrected, the mean is log sigma^2."""
    rng = np.random.default_rng(2)
    sigma = 0.3
    draws = rng.normal(5.0, sigma, size=(40_000, 2))
    corrected = unbiased_log_variance(draws)
    # sd of log chi2_1 is pi / sqrt(2); four standard errors
    tolerance = 4 * (math.pi / math.sqrt(2)) / math.sqrt(draws.shape[0])
    assert abs(corrected.mean() - math.log(sigma**2)) < tolerance


def test_the_variance_trend_follows_a_variance_that_changes_with_the_parameters():
    rng = np.random.default_rng(3)
    units = rng.uniform(size=(400, 1))
    sd = 0.05 + 0.3 * units[:, 0]  # a count's log-spread shrinks as it grows, here the reverse
    logs = rng.normal(0.0, sd[:, None, None], size=(400, 1, 2))
    trend = VarianceTrend.fit(units, unbiased_log_variance(logs), units[0], np.array([1.0]))
    for u in (0.1, 0.5, 0.9):
        predicted = trend.predict(np.array([[u]]))[0, 0]
        assert predicted == pytest.approx((0.05 + 0.3 * u) ** 2, rel=0.25)


@pytest.mark.parametrize("mixing", [False, True])
def test_the_sampler_recovers_a_known_gaussian_and_repeats_itself(mixing):
    mean, sd = np.array([0.4, 0.6]), np.array([0.05, 0.1])

    def density(units):
        return -0.5 * (((units - mean) / sd) ** 2).sum(axis=1)

    chain = sample(density, np.array([0.5, 0.5]), seed=11, steps=2000, mixing=mixing)
    draws = chain.draws
    # Standard error of a mean over correlated draws: sd / sqrt(effective size); 4 of them.
    for i in range(2):
        assert abs(draws[:, i].mean() - mean[i]) < 4 * sd[i] / math.sqrt(chain.effective_size[i])
        low, high = np.quantile(draws[:, i], [0.05, 0.95])
        assert high - low == pytest.approx(2 * 1.6449 * sd[i], rel=0.1)
    again = sample(density, np.array([0.5, 0.5]), seed=11, steps=2000, mixing=mixing)
    np.testing.assert_array_equal(again.draws, chain.draws)


def test_the_emulated_posterior_is_zero_outside_the_bounds():
    rng = np.random.default_rng(4)
    units = rng.uniform(size=(30, 2))
    records = [
        {"unit": list(u), "loss": 0.0, "simulated": {"x": [np.expm1(5 + u[0]), np.expm1(5 + u[0])]}}
        for u in units
    ]
    emulator = fit_emulator(Evidence.from_records(records, ["x"]), np.array([0.01]), 2)
    density = EmulatedLikelihood(emulator, (observation(np.expm1(5.5)),), 0.1)
    values = density(np.array([[0.5, 0.5], [1.2, 0.5], [0.5, -0.1]]))
    assert np.isfinite(values[0]) and np.isneginf(values[1:]).all()


def test_n_features_counts_the_coefficients():
    assert n_features(13, True) == 105 and n_features(13, False) == 27


@pytest.fixture(scope="module")
def posterior_run(tmp_path_factory):
    """The CLI's posterior calibration of the two-border scenario (known truth)."""
    tmp = tmp_path_factory.mktemp("posterior")
    path = scenario_file(tmp)
    csv = truth_observations(path, tmp)
    out = tmp / "cal"
    command = ["calibrate", str(path), "--observations", str(csv), "-n", "2", "--budget", "40",
               "--reporting-error", "0.05", "--validation-replications", "4", "-j", "1", "-q",
               "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    return tmp, path, csv, out, command


def test_the_posterior_covers_the_truth_and_is_written_with_its_figures(posterior_run):
    _, _, _, out, _ = posterior_run
    table = pd.read_csv(out / "parameters.csv").set_index("name")
    for name, truth in (("rate", TRUE_RATE), ("attract", TRUE_ATTRACT)):
        assert table.loc[name, "post_ci_low"] <= truth <= table.loc[name, "post_ci_high"]
        assert table.loc[name, "moved_by_data"]
        assert table.loc[name, "ess"] > 200
    draws = pd.read_csv(out / "posterior.csv")
    assert list(draws.columns) == ["draw", "rate", "attract"] and len(draws) == 1000
    for name in ("posterior.json", "posterior_marginals.png", "posterior_pairs.png"):
        assert (out / name).stat().st_size > 0
    fitted = flowsim.load_scenario(out / "fitted.yaml")
    assert fitted.posterior == str((out / "posterior.csv").resolve())
    assert fitted.parameters["rate"].value == pytest.approx(table.loc["rate", "post_median"])


@pytest.mark.slow
def test_a_rerun_replays_the_log_and_writes_the_same_posterior(posterior_run, capsys):
    _, _, _, out, command = posterior_run
    before = (out / "posterior.csv").read_bytes()
    log = (out / "evaluations.jsonl").read_text()
    assert main(command) == 0
    assert (out / "evaluations.jsonl").read_text() == log  # nothing new was simulated
    assert (out / "posterior.csv").read_bytes() == before


def test_replication_r_runs_draw_r_of_the_posterior(posterior_run):
    from flowsim.parameter_draws import replication_values

    _, _, _, out, _ = posterior_run
    fitted = flowsim.load_scenario(out / "fitted.yaml")
    draws = pd.read_csv(out / "posterior.csv")
    values = replication_values(fitted, 3)
    assert [v["rate"] for v in values] == list(draws["rate"][:3])
    assert replication_values(fitted, 3, "point") == [None, None, None]
    result = flowsim.run(fitted, replications=2, workers=1, progress=False)
    point = flowsim.run(fitted, replications=2, workers=1, progress=False, parameters="point")
    assert result.metadata.parameters == "posterior" and point.metadata.parameters == "point"
    assert result.metadata.posterior["sha256"]
    assert not result.daily["mean"].equals(point.daily["mean"])


def test_more_replications_than_draws_is_refused(posterior_run, tmp_path, capsys):
    out = posterior_run[3]
    small = tmp_path / "few.csv"
    pd.read_csv(out / "posterior.csv").head(2).to_csv(small, index=False)
    child = child_of(tmp_path, out / "fitted.yaml", "posterior: few.csv\n")
    code = main(["run", str(child), "-n", "3", "-q", "--out", str(tmp_path / "r"), "--no-plot"])
    err = capsys.readouterr().err
    assert code == 2 and "3 replications need as many posterior draws" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "content, problem",
    [("draw,rate,nope\n0,600,1\n", "column 'nope' is not a parameter"),
     ("draw,rate\n0,\n", "column 'rate' needs a finite number in every row"),
     ("draw,rate,weight\n0,600,1\n", "a weighted posterior")],
)  # fmt: skip
def test_a_bad_posterior_file_is_an_error_naming_it(posterior_run, tmp_path, capsys, content,
                                                    problem):  # fmt: skip
    _, _, _, out, _ = posterior_run
    (tmp_path / "bad.csv").write_text(content)
    child = child_of(tmp_path, out / "fitted.yaml", "posterior: bad.csv\n")
    code = main(["run", str(child), "-n", "1", "-q", "--out", str(tmp_path / "r"), "--no-plot"])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and "bad.csv" in err
    assert err.count("\n") == 1


def test_a_missing_posterior_file_is_an_error_naming_the_field(tmp_path, capsys):
    path = scenario_file(tmp_path)
    child = child_of(tmp_path, path, "posterior: nowhere.csv\n")
    assert main(["check", str(child)]) == 2
    err = capsys.readouterr().err
    assert "posterior" in err and "nowhere.csv" in err


def test_a_comparison_pairs_draw_r_with_streams_r(posterior_run, tmp_path):
    from flowsim.compare import compare

    _, _, _, out, _ = posterior_run
    same = child_of(tmp_path, out / "fitted.yaml", "name: same\n")
    comparison = compare([out / "fitted.yaml", same], replications=4, workers=1, progress=False)
    other = comparison.table[comparison.table["scenario"] == "same"]
    # The same scenario under the same draws and streams: every paired difference is 0.
    assert (other[["post_ci_low", "post_ci_high"]].fillna(0) == 0).all().all()


def test_a_comparison_refuses_scenarios_with_different_posteriors(posterior_run, tmp_path):
    from flowsim.compare import check_comparable

    _, path, _, out, _ = posterior_run
    with pytest.raises(flowsim.errors.RunError, match="posterior"):
        check_comparable(flowsim.load_scenario(out / "fitted.yaml"), flowsim.load_scenario(path))


def test_the_effect_interval_is_the_central_90_percent_of_the_paired_differences():
    from flowsim.compare import _effect_interval

    diff = np.arange(101, dtype=float)
    assert _effect_interval(diff) == pytest.approx((5.0, 95.0))
    assert all(math.isnan(v) for v in _effect_interval(np.array([1.0])))


def test_a_time_budget_stops_the_evaluations_in_time(tmp_path):
    import time

    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    started = time.monotonic()
    result = calibrate(str(path), observations, replications=2, workers=1, budget=1000,
                       out_dir=tmp_path / "cal", time_budget=40.0)  # fmt: skip
    elapsed = time.monotonic() - started
    assert elapsed <= 40.0
    assert 2 < result.evaluations < 1000  # it stopped for time, not for the budget
    # Stopped for time, the posterior of the evidence there is is still written.
    assert result.posterior is not None and result.posterior.draws.shape == (1000, 2)


def test_the_sbc_summary_reads_its_table():
    from flowsim.inference.sbc import SbcResult

    table = pd.DataFrame(
        {"dataset": [0, 0, 1, 1], "parameter": ["a", "b", "a", "b"],
         "covered": [True, False, True, True], "rank": [0.2, 0.9, 0.4, 0.5]}
    )  # fmt: skip
    result = SbcResult(table, ())
    assert result.coverage == 0.75
    summary = result.by_parameter().set_index("parameter")
    assert summary.loc["a", "coverage"] == 1.0 and summary.loc["b", "mean_rank"] == 0.7


@pytest.mark.slow
def test_simulation_based_calibration_covers_about_90_percent(tmp_path):
    """20 synthetic data sets over the whole prior; coverage between 75% and 100%.

    With 40 (data set, parameter) pairs and a true coverage of 90%, the chance of falling
    below 75% is about 0.3% (binomial); a method whose intervals are half as wide as they
    should be covers about 59% and fails.
    """
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    out = tmp_path / "sbc"
    command = ["sbc", str(path), "--observations", str(csv), "--out", str(out), "--datasets",
               "20", "--design", "40", "--reporting-error", "0.05", "-j", "2", "--chain-steps",
               "1500"]  # fmt: skip
    assert main(command) == 0
    table = pd.read_csv(out / "sbc.csv")
    assert len(table) == 40
    assert 0.75 <= table["covered"].mean() <= 1.0
    assert stats.binomtest(int(table["covered"].sum()), 40, 0.9).pvalue > 0.001
    assert (out / "sbc_ranks.png").stat().st_size > 0


def test_the_report_shows_a_posterior_calibration(posterior_run):
    from flowsim.report import build_report

    out = posterior_run[3]
    page = build_report([out])
    assert "Posterior median and 90% credible interval" in page and "moved_by_data" in page


@pytest.mark.parametrize(
    "text, seconds", [("90", 90), ("90s", 90), ("45m", 2700), ("2h", 7200), ("1h30m", 5400)]
)
def test_a_time_budget_reads_hours_minutes_and_seconds(text, seconds):
    from flowsim.cli import _duration

    assert _duration(text) == seconds


def test_a_child_that_changes_a_calibrated_parameter_is_refused(posterior_run, tmp_path, capsys):
    out = posterior_run[3]
    child = child_of(tmp_path, out / "fitted.yaml", "parameters:\n  rate: {value: 900}\n")
    command = ["run", str(child), "-n", "1", "-q", "--out", str(tmp_path / "r"), "--no-plot"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "parameter 'rate' is set in" in err and "--parameters point" in err
    assert main([*command, "--parameters", "point"]) == 0  # as written, 900 for every one
    set_rate = ["run", str(out / "fitted.yaml"), "-n", "1", "-q", "--no-plot",
                "--out", str(tmp_path / "s"), "--set", "parameters.rate.value=900"]  # fmt: skip
    assert main(set_rate) == 2
    assert "is set in --set" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, problem",
    [("draw,rate\n0,abc\n", "column 'rate' needs a finite number in every row"),
     ("draw,speed\n0,1\n", "column 'speed' is not a calibrated parameter"),
     ("draw\n", "no draws in it")],
)  # fmt: skip
def test_a_bad_sbc_box_is_an_error_naming_it(tmp_path, capsys, content, problem):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    box = tmp_path / "box.csv"
    box.write_text(content)
    command = ["sbc", str(path), "--observations", str(csv), "--out", str(tmp_path / "s"),
               "--box", str(box)]  # fmt: skip
    assert main(command) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1
    assert not (tmp_path / "s" / "sbc.csv").exists()

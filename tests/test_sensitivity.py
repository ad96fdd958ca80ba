"""Sensitivity analysis: the estimator on a known function, the design, and the command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import START
from test_calibration import scenario_file

import flowsim
from flowsim.cli import main
from flowsim.errors import RunError
from flowsim.inference.sensitivity import (
    DUMMY,
    Input,
    first_order,
    sensitivity_design,
    sensitivity_inputs,
)


def test_first_order_indices_of_a_linear_function_are_its_variance_shares():
    # y = x1 + x2 / 2 + noise, x uniform: Var = 1/12 + 1/48 + s^2, so S1 = (1/12) / Var etc.
    rng = np.random.default_rng(3)
    n, noise = 1000, 0.1
    x = rng.uniform(size=(n, 3))
    y = x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, noise, n)
    total = 1 / 12 + 1 / 48 + noise**2
    truth = np.array([1 / 12, 1 / 48, 0.0]) / total
    s1, conf, p_value = first_order(x, y, seed=1)
    assert np.all(np.abs(s1 - truth) < conf), (s1, conf, truth)
    assert np.all(conf < 0.1)
    assert p_value[0] < 1e-9 and p_value[1] < 1e-9 and p_value[2] > 0.01


def test_the_main_effect_test_rejects_an_input_that_does_nothing_at_its_level():
    # 400 designs of 48 points of pure noise: rejections at 5% are binomial(400, 0.05).
    rng = np.random.default_rng(11)
    p_values = [first_order(rng.uniform(size=(48, 1)), rng.normal(size=48), seed=k)[2][0]
                for k in range(400)]  # fmt: skip
    rejected = np.mean(np.array(p_values) < 0.05)
    assert abs(rejected - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 400)


def test_an_output_that_does_not_vary_has_no_indices():
    s1, conf, p = first_order(np.random.default_rng(0).uniform(size=(20, 2)), np.ones(20), seed=1)
    assert np.isnan(s1).all() and np.isnan(conf).all() and np.isnan(p).all()


def test_the_design_draws_posterior_rows_whole_and_stratifies_the_rest():
    inputs = [
        Input("a", "posterior", 0, 1, "x"),
        Input("b", "posterior", 0, 1, "x"),
        Input("lanes", "assumption", 1, 4, "assumption", whole=True),
        Input("share", "fact", 0.2, 0.6, "F1"),
        Input(DUMMY, "dummy", 0, 1, ""),
    ]
    a = np.arange(100.0)
    draws = {"a": a, "b": a * 10}
    design = sensitivity_design(inputs, draws, 40, seed=5)
    assert (design["b"] == design["a"] * 10).all()  # rows kept together
    assert design["draw"].is_unique
    assert set(design["lanes"]) <= {1, 2, 3, 4} and design["lanes"].nunique() == 4
    # A Latin hypercube: each of 40 equal slices of the range holds one point.
    slices = np.floor((design["share"] - 0.2) / 0.4 * 40)
    assert sorted(slices) == list(range(40))
    assert design.equals(sensitivity_design(inputs, draws, 40, seed=5))
    with pytest.raises(RunError, match="posterior draws"):
        sensitivity_design(inputs, draws, 101, seed=5)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Two borders, a posterior over rate and attract, and the second border closed."""
    tmp = tmp_path_factory.mktemp("sensitivity")
    path = scenario_file(tmp)
    data = yaml.safe_load(path.read_text())
    data["parameters"]["home_pull"] = {"value": 0.0, "lower": -0.05, "upper": 0.05,
                                       "source": "assumption"}  # fmt: skip
    data["countries"]["Testland"] = {"attractiveness": "$home_pull"}
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {"draw": range(200), "rate": rng.uniform(200, 900, 200), "attract": rng.uniform(-1, 1, 200)}
    ).to_csv(tmp / "draws.csv", index=False)
    data["posterior"] = "draws.csv"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    closed = tmp / "closed.yaml"
    closed.write_text(
        yaml.safe_dump(
            {
                "extends": path.name,
                "name": "closed",
                "policies": {
                    "shut": {
                        "type": "closure",
                        "start": START,
                        "checkpoint": "other",
                        "source": "test",
                    }
                },
            }
        )
    )
    out = tmp / "sa"
    command = ["sensitivity", str(path), str(closed), "--points", "48", "--noise-replications",
               "4", "-j", "1", "-q", "--out", str(out)]  # fmt: skip
    assert main(command) == 0
    return tmp, path, closed, out, command


def test_the_effect_of_closing_a_border_hangs_on_the_demand_and_the_pull(analysed):
    _, _, _, out, _ = analysed
    summary = pd.read_csv(out / "sensitivity_summary.csv")
    assert list(summary["country"]) == ["all countries", "Otherland"]
    target = summary.set_index("country").loc["Otherland"]
    assert target["effect_mean"] < 0
    assert 0 <= target["noise_share"] < 0.2
    table = pd.read_csv(out / "sensitivity.csv")
    other = table[table["country"] == "Otherland"].set_index("input")
    assert other.loc["rate", "drives"] and other.loc["attract", "drives"]
    assert not other.loc["home_pull", "drives"] and not other.loc[DUMMY, "drives"]
    assert other.loc[["rate", "attract"], "s1"].sum() > 0.7
    assert list(other["kind"]) == ["posterior", "posterior", "assumption", "dummy"]
    design = pd.read_csv(out / "design.csv")
    assert len(design) == 48 and "closed: Otherland" in design.columns
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 7 and meta["points"] == 48 and meta["posterior"]["sha256"]
    assert meta["command"].startswith("flowsim sensitivity") and meta["git_commit"]
    assert (out / "sensitivity.png").stat().st_size > 0


def test_a_rerun_replays_the_simulations_and_writes_the_same_bytes(analysed):
    _, _, _, out, command = analysed
    log = (out / "evaluations.jsonl").read_text()
    before = {f: (out / f).read_bytes() for f in ("design.csv", "sensitivity.csv")}
    assert main(command) == 0
    assert (out / "evaluations.jsonl").read_text() == log
    assert {f: (out / f).read_bytes() for f in before} == before


def test_a_rerun_with_other_inputs_is_refused(analysed, tmp_path, capsys):
    out, command = analysed[3], analysed[4]
    other = [*command[:-1], str(tmp_path / "copy")]
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "evaluations.jsonl").write_text((out / "evaluations.jsonl").read_text())
    (tmp_path / "copy" / "sensitivity.json").write_text((out / "sensitivity.json").read_text())
    changed = [*other, "--seed", "8"]
    assert main(changed) == 2
    assert "other seed" in capsys.readouterr().err
    assert not (tmp_path / "copy" / "sensitivity.csv").exists()


def test_a_parameter_a_counterfactual_changes_is_not_an_input(analysed):
    _, path, _, _, _ = analysed
    lever = path.parent / "lever.yaml"
    lever.write_text("extends: two.yaml\nname: lever\nparameters:\n  home_pull: {value: 0.03}\n")
    base, other = flowsim.load_scenario(path), flowsim.load_scenario(lever)
    names = [i.name for i in sensitivity_inputs(base, [other])]
    assert names == ["rate", "attract", DUMMY]
    with pytest.raises(RunError, match="policy compared"):
        sensitivity_inputs(base, [other], {"home_pull": (-0.1, 0.1)})


@pytest.mark.parametrize(
    "flags, problem",
    [(["--noise-replications", "1"], "--noise-replications"), (["--points", "5"], "--points")],
)
def test_bad_settings_are_refused_before_any_simulation(analysed, tmp_path, capsys, flags, problem):
    _, path, closed, _, _ = analysed
    out = tmp_path / "s"
    assert main(["sensitivity", str(path), str(closed), "--out", str(out), "-q", *flags]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err
    assert not (out / "evaluations.jsonl").exists()


def test_a_folder_of_other_files_is_not_written_into(analysed, tmp_path, capsys):
    _, path, closed, _, _ = analysed
    (tmp_path / "mine.txt").write_text("keep")
    assert main(["sensitivity", str(path), str(closed), "--out", str(tmp_path), "-q"]) == 2
    assert "sensitivity.json" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_range_replaces_a_parameters_bounds(analysed):
    base = flowsim.load_scenario(analysed[1])
    inputs = {i.name: i for i in sensitivity_inputs(base, [], {"home_pull": (-0.5, 0.25)})}
    assert (inputs["home_pull"].lower, inputs["home_pull"].upper) == (-0.5, 0.25)
    assert inputs["rate"].kind == "posterior"


@pytest.mark.parametrize(
    "ranges, problem",
    [({"rate": (1.0, 2.0)}, "drawn from the posterior"), ({"nope": (0.0, 1.0)}, "unknown"),
     ({"home_pull": (1.0, 1.0)}, "not below")],
)  # fmt: skip
def test_a_bad_range_is_refused(analysed, ranges, problem):
    with pytest.raises(RunError, match=problem):
        sensitivity_inputs(flowsim.load_scenario(analysed[1]), [], ranges)


def test_a_malformed_range_is_a_usage_error(analysed, tmp_path, capsys):
    _, path, closed, _, _ = analysed
    command = ["sensitivity", str(path), str(closed), "--out", str(tmp_path / "s"), "--range",
               "home_pull=0.1"]  # fmt: skip
    with pytest.raises(SystemExit) as stop:
        main(command)
    assert stop.value.code == 2 and "NAME=LOW:HIGH" in capsys.readouterr().err


def test_a_design_point_outside_the_scenarios_domain_is_refused_before_any_run(
    analysed, tmp_path, capsys
):
    # A share varied beyond 1 makes some points invalid: refused up front, naming one.
    data = yaml.safe_load(analysed[1].read_text())
    data["parameters"]["visa"] = {"value": 0.5, "lower": 0.2, "upper": 0.8, "source": "assumption"}
    data["attributes"]["visa"]["share"] = "$visa"
    data["posterior"] = str(analysed[0] / "draws.csv")
    path = tmp_path / "shares.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    closed = tmp_path / "closed.yaml"
    closed.write_text((analysed[2]).read_text().replace("two.yaml", "shares.yaml"))
    out = tmp_path / "s"
    command = ["sensitivity", str(path), str(closed), "--out", str(out), "-q", "--points", "12",
               "--range", "visa=0.5:1.5"]  # fmt: skip
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "design point" in err and "--range" in err and "Traceback" not in err, err
    assert not (out / "evaluations.jsonl").exists()

"""Warnings: printed, one line each, and the command goes on; none for the shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from builders import build
from test_compare import BAN
from test_policies import two_borders

from flowsim.checks import scenario_warnings
from flowsim.cli import main
from flowsim.inference.observations import COLUMNS
from flowsim.scenario import load_scenario
from flowsim.scenario.loader import deep_merge

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").rglob("*.yaml"))
)
def test_shipped_scenarios_have_no_warnings(path):
    assert scenario_warnings(load_scenario(ROOT / path), path) == []


def test_a_policy_at_the_horizon_end_and_a_ban_on_an_attribute_nobody_holds():
    data = two_borders()
    end = data["horizon"]["end"]
    late = {"late": {**BAN["ban"], "start": end}}
    data = deep_merge(
        data,
        {"policies": {**BAN, **late}, "attributes": {"visa": {"share": 0.0, "surge_share": None}}},
    )
    warnings = scenario_warnings(build(data), "x.yaml")
    assert any(
        w.startswith("x.yaml: policies.late.start: ") and w.endswith("never takes effect")
        for w in warnings
    )
    assert (
        "x.yaml: attributes.visa.share: nobody holds 'visa' (share 0), so policy 'ban' never acts"
        in warnings
    )


def test_an_observation_outside_the_horizon_is_a_warning_and_the_run_goes_on(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(two_borders()))
    csv = tmp_path / "obs.csv"
    csv.write_text(
        ",".join(COLUMNS)
        + "\n"
        + "in,Testland,,entries,2022-09-02T00:00:00+03:00,2022-09-03T00:00:00+03:00,100,,,t,\n"
        + "late,Testland,,entries,2023-01-02T00:00:00+03:00,2023-01-03T00:00:00+03:00,100,,,t,\n"
    )
    code = main(
        [
            "validate",
            str(scenario),
            "--observations",
            str(csv),
            "-n",
            "1",
            "-j",
            "1",
            "-q",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and (tmp_path / "out" / "fit.csv").exists()
    assert len(err) == 1 and err[0].startswith(
        f"flowsim: warning: {csv}:3: late: window 2023-01-02"
    )


BASE = ROOT / "tests" / "bad_inputs" / "_base.yaml"


@pytest.mark.parametrize(
    ("surge", "warned"),
    [
        ([("2022-08-01", 0), ("2022-09-21", 9000)], False),  # rising through the horizon
        ([("2022-09-10", 0), ("2022-09-30", 9000)], False),  # starts in its last day
        ([("2022-08-01", 500), ("2022-08-05", 500)], True),  # wholly before
        ([("2022-09-02", 0), ("2022-09-03", 0)], True),  # all 0
        ([("2022-09-11", 0), ("2022-09-12", 900)], True),  # from the horizon end on
    ],
)
def test_a_surge_warns_only_when_it_is_zero_throughout_the_horizon(surge, warned):
    knots = [{"at": f"{day}T00:00:00+03:00", "per_day": rate} for day, rate in surge]
    scenario = load_scenario(BASE, {"demand": {"surge": knots}})
    warnings = [w for w in scenario_warnings(scenario, "x.yaml") if "demand.surge" in w]
    assert len(warnings) == warned


def test_plausible_profiles_and_times_give_no_warning():
    scenario = load_scenario(
        BASE,
        [
            "demand.weekday_factors=[1.9, 1.9, 1.9, 1.9, 1.9, 1.9, 1.9]",
            "demand.origins.west.travel_hours.south_gate=72",
            "checkpoints.east_gate.modes.car.exit.service_minutes.mean=600",
        ],
    )
    assert scenario_warnings(scenario, "x.yaml") == []

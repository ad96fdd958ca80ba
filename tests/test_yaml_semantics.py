"""Scenario files and ``--set`` values are read with YAML 1.2 semantics (issue 15, item 8).

YAML 1.1 (PyYAML's default) reads ``yes``/``off`` as booleans, ``010`` as octal 8 and
``1:30`` as sexagesimal 90; none of that is what a user means, and booleans are not numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowsim.errors import ScenarioError
from flowsim.scenario import dump_resolved, load_scenario
from flowsim.scenario.loader import (
    _FastLoader,
    _Loader,
    _parse,
    _parse_with,
    load_raw,
    parse_overrides,
    whole_number_uses,
)

BASE = Path(__file__).parent / "bad_inputs" / "_base.yaml"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),
        ("off", "off"),
        ("No", "No"),
        ("true", True),
        ("FALSE", False),
        ("010", 10),
        ("0o10", 8),
        ("0x10", 16),
        ("1:30", "1:30"),
        ("07:00", "07:00"),
        ("1e3", 1000.0),
        ("-.5", -0.5),
        ("~", None),
        ("1_000", "1_000"),
    ],
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text, value):
    parsed = _parse(text)[0]
    assert parsed == value and type(parsed) is type(value)


def test_set_uses_the_same_rules():
    assert parse_overrides(["seed=010"]) == {"seed": 10}
    assert load_scenario(BASE, ["seed=010"]).seed == 10
    with pytest.raises(
        ScenarioError, match=r"seed: Input should be a valid integer \(got '1:30'\)"
    ):
        load_scenario(BASE, ["seed=1:30"])
    with pytest.raises(ScenarioError, match="divert_share: expected a number, not the word 'no'"):
        load_scenario(BASE, ["demand.choice.divert_share=no"])
    with pytest.raises(ScenarioError, match="informed_share: expected a number, not a boolean"):
        load_scenario(BASE, ["demand.choice.informed_share=true"])


@pytest.mark.parametrize(
    "field",
    [
        "demand.choice.hours_weight",
        "demand.origins.west.baseline_per_day",
        "demand.origins.west.travel_hours.north_gate",
        "countries.Eastland.attractiveness",
        "parameters.hours_weight.value",
        "demand.classes.bus.party_size.mean",
        "checkpoints.south_gate.modes.car.exit.service_minutes.mean",
        "checkpoints.south_gate.modes.car.exit.lanes",
        "demand.choice.information_update_minutes",
        "policies.east_screening.extra_minutes",
    ],
)
def test_no_numeric_field_takes_a_boolean(field):
    with pytest.raises(ScenarioError, match="not a boolean"):
        load_scenario(BASE, [f"{field}=true"])


def test_unquoted_clock_times_are_times():
    scenario = load_scenario(
        BASE, ["checkpoints.north_gate.opening_hours=[{open: 07:00, close: 21:00}]"]
    )
    window = scenario.checkpoints["north_gate"].opening_hours[0]
    assert (window.open, window.close) == ("07:00", "21:00")


def test_a_whole_number_field_takes_a_whole_real():
    """A parameter is real, so a calibrated lane count arrives as 3.0 (issue 15, item 23)."""
    scenario = load_scenario(BASE, ["parameters.north_car_lanes.value=3.0"])
    lanes = scenario.checkpoints["north_gate"].modes["car"].exit.lanes
    assert lanes == 3 and type(lanes) is int
    with pytest.raises(ScenarioError, match=r"lanes: expected a whole number \(got 3.5\)"):
        load_scenario(BASE, ["parameters.north_car_lanes.value=3.5"])


def test_the_resolved_dump_quotes_text_either_yaml_version_would_misread(tmp_path):
    scenario = load_scenario(BASE, ["description=yes", "demand.classes.bus.modes.bus=0.0"])
    text = dump_resolved(scenario)
    assert "description: 'yes'" in text
    path = tmp_path / "resolved.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path) == scenario


def test_parameters_feeding_whole_numbers_are_found_through_tagged_unions():
    assert whole_number_uses(load_raw(BASE)) == {
        "north_car_lanes": "checkpoints.north_gate.modes.car.exit.lanes"
    }
    raw = load_raw(Path(__file__).resolve().parent.parent / "scenarios" / "historical_2022.yaml")
    assert whole_number_uses(raw) == {}, "service-time means and surge rates are real"


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[1] / "scenarios").rglob("*.yaml")), ids=lambda p: p.name
)
def test_libyaml_and_the_python_parser_read_each_scenario_alike(path):
    text = path.read_text()
    assert _parse_with(_FastLoader, text)[0] == _parse_with(_Loader, text)[0]
    assert _FastLoader.__mro__[1] is yaml.CSafeLoader  # PyYAML's wheels carry libyaml

"""Every user mistake: exit status 2 and one stderr line naming file, field path or line, problem.

Each case writes a bad scenario into ``tmp_path`` (usually a small valid scenario from
`builders.single_checkpoint` with one thing broken) and runs ``flowsim check``,
``flowsim resolve`` and ``flowsim run`` through `flowsim.cli.main`. The `cli` fixture
checks the common contract (status 2, exactly one stderr line starting with
``flowsim: error:``, no traceback, nothing on stdout, no results folder, the same
message from every subcommand) and returns the message for the case-specific checks.

Where a message is poor, fix the code and keep the test; tests/bad_inputs/ holds the
file-based corpus of the same contract.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import single_checkpoint

from flowsim.cli import main

FLOWSIM = Path(sys.executable).parent / "flowsim"
POLICY_TYPES = ("entry_ban", "access_restriction", "exit_screening", "capacity_change", "closure")
EXIT = ("checkpoints", "gate", "modes", "car", "exit")

Cli = Callable[..., str]


# --- helpers -----------------------------------------------------------------------------


def valid() -> dict[str, Any]:
    """A small valid scenario: horizon 2022-09-01 to 2022-09-06 (+03:00), checkpoint `gate`."""
    return single_checkpoint(
        arrivals_per_hour=2.0, service_minutes={"dist": "exponential", "mean": 5.0}, lanes=2, days=5
    )


def closure(
    checkpoint: str = "gate", start: str = "2022-09-02T00:00:00+03:00", **more: Any
) -> dict:
    return {
        "type": "closure",
        "start": start,
        "checkpoint": checkpoint,
        "source": "assumption",
        **more,
    }


def put(data: dict, path: tuple, value: Any) -> dict:
    """Set ``data[path[0]][path[1]]... = value`` (in place) and return `data`."""
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def write(path: Path, content: dict | str | bytes) -> Path:
    if isinstance(content, dict):
        content = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based number of the `nth` line of `path` containing `needle`."""
    hits = [
        i
        for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if needle in text
    ]
    assert len(hits) >= nth, f"{needle!r} not in {path}"
    return hits[nth - 1]


def mapping_lines(path: Path, key: str) -> set[int]:
    """Lines that may locate the block mapping under `key`: the key's line or its first entry's.

    The loader currently reports a block mapping at its first entry (the start of the
    value node); see `test_missing_field_is_located_at_its_parent_key`.
    """
    line = line_of(path, key)
    return {line, line + 1}


def split(message: str, path: Path) -> tuple[int, str]:
    """``"<path>:<line>: rest"`` -> (line, rest)."""
    assert message.startswith(f"{path}:"), message
    line, _, rest = message.removeprefix(f"{path}:").partition(": ")
    assert line.isdigit(), message
    return int(line), rest


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory: ``flowsim run`` would put ``results/`` here."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def cli(work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``check``, ``resolve`` and ``run`` on the arguments; return their one error line."""

    def call(*argv: str, commands: tuple[str, ...] = ("check", "resolve", "run")) -> str:
        messages = []
        out = tmp_path / "out"
        for command in commands:
            args = [command, *argv]
            if command == "run":
                args += ["--quiet", "--no-plot"]
            status = main(args)
            captured = capsys.readouterr()
            assert "Traceback" not in captured.err
            assert status == 2, f"{command}: status {status}, stderr {captured.err!r}"
            lines = captured.err.splitlines()
            assert len(lines) == 1, f"{command}: expected one line on stderr, got {captured.err!r}"
            assert lines[0].startswith("flowsim: error: ")
            assert captured.out == ""
            messages.append(lines[0].removeprefix("flowsim: error: "))
            if command == "run":  # once more with an explicit result folder
                assert main([*args, "--out", str(out)]) == 2
                assert capsys.readouterr().err.splitlines() == lines
        assert list(work.iterdir()) == [], "no results folder may be created"
        assert not out.exists()
        assert len(set(messages)) == 1, messages
        return messages[0]

    return call


# --- unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "typo", "right"),
    [
        ((), "replicatons", "replications"),
        (("checkpoints", "gate", "modes", "car"), "queue_spase_m", "queue_space_m"),
        (("checkpoints", "gate"), "opening_huors", "opening_hours"),
        (("demand", "choice"), "patience_hour", "patience_hours"),
        (("attributes", "visa"), "surge_shar", "surge_share"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unknown_key_suggests_the_field(
    cli: Cli, tmp_path: Path, path: tuple, typo: str, right: str
) -> None:
    data = valid()
    put(data, (*path, typo), 1)
    bad = write(tmp_path / "typo.yaml", data)
    dotted = ".".join((*path, typo))
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, typo + ':')}: {dotted}: unknown field (did you mean {right!r}?)"
    )


def test_unknown_key_in_a_policy_suggests_the_field(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {"shut": closure(ned="2022-09-03T00:00:00+03:00")}
    bad = write(tmp_path / "policy_typo.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'ned:')}: policies.shut.ned: unknown field (did you mean 'end'?)"
    )


def test_unknown_key_without_a_close_match_lists_the_fields(cli: Cli, tmp_path: Path) -> None:
    data = put(valid(), (*EXIT, "service_minutes", "colour"), "red")
    bad = write(tmp_path / "colour.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'colour:')}: checkpoints.gate.modes.car.exit.service_minutes.colour: "
        "unknown field; valid fields: dist, mean"
    )


def test_misspelt_required_field_suggests_the_field(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    stage = data["checkpoints"]["gate"]["modes"]["car"]["exit"]
    stage["lanse"] = stage.pop("lanes")
    bad = write(tmp_path / "lanse.yaml", data)
    message = cli(str(bad))
    assert message == (
        f"{bad}:{line_of(bad, 'lanse:')}: checkpoints.gate.modes.car.exit.lanse: "
        "unknown field (did you mean 'lanes'?)"
    )


def test_misspelt_required_distribution_field_suggests_the_field(cli: Cli, tmp_path: Path) -> None:
    data = put(valid(), (*EXIT, "service_minutes"), {"dist": "exponential", "mena": 5})
    bad = write(tmp_path / "mena.yaml", data)
    message = cli(str(bad))
    assert "service_minutes.mena: unknown field (did you mean 'mean'?)" in message


# --- wrong values ---------------------------------------------------------------------------


def test_wrong_type(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "type.yaml", put(valid(), (*EXIT, "lanes"), "many"))
    message = cli(str(bad))
    assert message.startswith(
        f"{bad}:{line_of(bad, 'lanes: many')}: checkpoints.gate.modes.car.exit.lanes: "
    )
    assert "valid integer" in message
    assert "(got 'many')" in message


def test_fractional_lanes(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "fraction.yaml", put(valid(), (*EXIT, "lanes"), 2.5))
    message = cli(str(bad))
    assert message.startswith(
        f"{bad}:{line_of(bad, 'lanes: 2.5')}: checkpoints.gate.modes.car.exit.lanes: "
    )
    assert "whole number" in message and "2.5" in message


def test_boolean_lanes_are_rejected(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "bool.yaml", put(valid(), (*EXIT, "lanes"), True))
    message = cli(str(bad), commands=("check",))
    assert "checkpoints.gate.modes.car.exit.lanes" in message and "not a boolean" in message


def test_negative_lanes(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "negative.yaml", put(valid(), (*EXIT, "lanes"), -1))
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'lanes: -1')}: checkpoints.gate.modes.car.exit.lanes: "
        "Input should be greater than or equal to 0 (got -1)"
    )


@pytest.mark.parametrize(
    "service",
    [
        {"dist": "exponential", "mean": 0},
        {"dist": "exponential", "mean": -2},
        {"dist": "gamma", "mean": 0, "cv": 0.5},
        {"dist": "lognormal", "mean": -1.5, "cv": 0.5},
    ],
    ids=["exponential-zero", "exponential-negative", "gamma-zero", "lognormal-negative"],
)
def test_non_positive_service_mean(cli: Cli, tmp_path: Path, service: dict) -> None:
    bad = write(tmp_path / "mean.yaml", put(valid(), (*EXIT, "service_minutes"), service))
    line = line_of(bad, f"mean: {service['mean']}")
    assert cli(str(bad)) == (
        f"{bad}:{line}: checkpoints.gate.modes.car.exit.service_minutes.mean: "
        f"Input should be greater than 0 (got {service['mean']})"
    )


def test_uniform_high_below_low(cli: Cli, tmp_path: Path) -> None:
    data = put(valid(), (*EXIT, "service_minutes"), {"dist": "uniform", "low": 3, "high": 1})
    bad = write(tmp_path / "uniform.yaml", data)
    message = cli(str(bad))
    assert message.startswith(
        f"{bad}:{line_of(bad, 'service_minutes:')}: "
        "checkpoints.gate.modes.car.exit.service_minutes: "
    )
    assert "high must be >= low" in message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("demand", "choice", "informed_share"), 1.5),
        (("demand", "choice", "divert_share"), 2),
        (("attributes", "visa", "share"), 1.2),
        (("demand", "origins", "home", "surge_share"), 1.01),
    ],
    ids=lambda v: v[-1] if isinstance(v, tuple) else None,
)
def test_probability_above_one(cli: Cli, tmp_path: Path, path: tuple, value: float) -> None:
    bad = write(tmp_path / "probability.yaml", put(valid(), path, value))
    line = line_of(bad, f"{path[-1]}: {value}")
    assert cli(str(bad)) == (
        f"{bad}:{line}: {'.'.join(path)}: Input should be less than or equal to 1 (got {value})"
    )


def test_negative_probability(cli: Cli, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "negative_share.yaml", put(valid(), ("attributes", "man", "share"), -0.1)
    )
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'share: -0.1')}: attributes.man.share: "
        "Input should be greater than or equal to 0 (got -0.1)"
    )


def test_bad_identifier(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "name.yaml", put(valid(), ("name",), "Single Gate"))
    message = cli(str(bad))
    assert message.startswith(f"{bad}:1: name: String should match pattern")
    assert "'Single Gate'" in message


def test_bad_clock_time(cli: Cli, tmp_path: Path) -> None:
    data = put(
        valid(), ("checkpoints", "gate", "opening_hours"), [{"open": "07:00", "close": "25:00"}]
    )
    bad = write(tmp_path / "clock.yaml", data)
    message = cli(str(bad))
    assert message.startswith(
        f"{bad}:{line_of(bad, 'close:')}: checkpoints.gate.opening_hours[0].close: "
    )
    assert "between 00:00 and 24:00" in message and "'25:00'" in message


def test_wrong_container_type(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "horizon.yaml", put(valid(), ("horizon",), "2022-09-01"))
    message = cli(str(bad))
    assert message.startswith(f"{bad}:2: horizon: ")
    assert "dictionary" in message and "'2022-09-01'" in message


# --- references between sections ----------------------------------------------------------------


def test_policy_names_unknown_checkpoint(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {"shut": closure(checkpoint="gat")}
    bad = write(tmp_path / "unknown_checkpoint.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'checkpoint: gat')}: policies.shut.checkpoint: "
        "unknown checkpoint 'gat' (did you mean 'gate'?)"
    )


def test_policy_targets_unknown_checkpoint(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {
        "ban": {
            "type": "entry_ban",
            "start": "2022-09-02T00:00:00+03:00",
            "where": {"checkpoints": ["gaet"]},
            "attribute": "visa",
            "source": "assumption",
        }
    }
    bad = write(tmp_path / "unknown_target.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, '- gaet')}: policies.ban.where.checkpoints[0]: "
        "unknown checkpoint 'gaet' (did you mean 'gate'?)"
    )


def test_policy_names_unknown_attribute(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {
        "ban": {
            "type": "entry_ban",
            "start": "2022-09-02T00:00:00+03:00",
            "where": {"countries": ["Testland"]},
            "attribute": "vias",
            "source": "assumption",
        }
    }
    bad = write(tmp_path / "unknown_attribute.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'attribute: vias')}: policies.ban.attribute: "
        "unknown attribute 'vias' (did you mean 'visa'?)"
    )


def test_checkpoint_names_unknown_country(cli: Cli, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "country.yaml", put(valid(), ("checkpoints", "gate", "country"), "Testlnd")
    )
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'country: Testlnd')}: checkpoints.gate.country: "
        "unknown country 'Testlnd' (did you mean 'Testland'?)"
    )


def test_class_shares_must_sum_to_one(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "shares.yaml", put(valid(), ("demand", "classes", "car", "share"), 0.7))
    message = cli(str(bad))
    assert message.startswith(f"{bad}:")
    assert "demand.classes: the classes' shares sum to" in message
    assert "shares sum to 0.7, not 1" in message


def test_policy_start_before_horizon(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {"shut": closure(start="2022-08-02T00:00:00+03:00")}
    bad = write(tmp_path / "outside.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'start: ', nth=2)}: policies.shut.start: 2022-08-02T00:00:00+03:00 "
        "is before the horizon starts (2022-09-01T00:00:00+03:00); "
        "a policy already in force by then should start at the horizon start"
    )


def test_policy_after_horizon_is_a_warning_and_an_end_after_it_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = valid()
    data["policies"] = {
        "late": closure(start="2022-12-02T00:00:00+03:00"),
        "long": closure(start="2022-09-03T00:00:00+03:00", end="2022-12-06T00:00:00+03:00"),
    }
    path = write(tmp_path / "outside_end.yaml", data)
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"flowsim: warning: {path}:{line_of(path, 'start: ', nth=2)}: "
        "policies.late.start: 2022-12-02T00:00:00+03:00 is at or after the end of the horizon "
        "(2022-09-06T00:00:00+03:00), so the policy never takes effect"
    ]


def test_policy_end_before_start(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {
        "shut": closure(start="2022-09-03T00:00:00+03:00", end="2022-09-02T00:00:00+03:00")
    }
    bad = write(tmp_path / "end_before_start.yaml", data)
    line, rest = split(cli(str(bad)), bad)
    assert line in mapping_lines(bad, "shut:")
    assert rest.startswith("policies.shut: end must be after start")


def test_model_level_message_has_no_got_dict_suffix(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {
        "shut": closure(start="2022-09-03T00:00:00+03:00", end="2022-09-02T00:00:00+03:00")
    }
    bad = write(tmp_path / "end_before_start.yaml", data)
    assert "(got dict)" not in cli(str(bad))


def test_attribute_given_itself_is_rejected(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "given.yaml", put(valid(), ("attributes", "visa", "given"), "visa"))
    message = cli(str(bad), commands=("check",))
    assert "attributes.visa.given" in message


# --- dates and time zones -----------------------------------------------------------------------


def test_naive_policy_datetime(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {"shut": closure(start="2022-09-02T00:00:00")}
    bad = write(tmp_path / "naive_policy.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, 'start: ', nth=2)}: policies.shut.start: "
        "Input should have timezone info (got '2022-09-02T00:00:00')"
    )


def test_naive_horizon_datetime_written_as_yaml_timestamp(cli: Cli, tmp_path: Path) -> None:
    """An unquoted YAML timestamp without an offset is not silently taken as UTC."""
    text = yaml.safe_dump(valid(), sort_keys=False).replace(
        "start: '2022-09-01T00:00:00+03:00'", "start: 2022-09-01 00:00:00"
    )
    bad = write(tmp_path / "naive_horizon.yaml", text)
    assert cli(str(bad)) == (
        f"{bad}:3: horizon.start: Input should have timezone info (got '2022-09-01 00:00:00')"
    )


def test_naive_surge_knot(cli: Cli, tmp_path: Path) -> None:
    data = put(valid(), ("demand", "surge"), [{"at": "2022-09-02T00:00:00", "per_day": 5}])
    bad = write(tmp_path / "naive_surge.yaml", data)
    message = cli(str(bad))
    assert message.startswith(f"{bad}:{line_of(bad, '- at:')}: demand.surge[0].at: ")
    assert "timezone" in message


@pytest.mark.parametrize(
    ("path", "zone"),
    [
        (("checkpoints", "gate", "timezone"), "Europe/Helsinky"),
        (("demand", "timezone"), "Mars/Olympus"),
    ],
    ids=["checkpoint", "demand"],
)
def test_unknown_time_zone(cli: Cli, tmp_path: Path, path: tuple, zone: str) -> None:
    bad = write(tmp_path / "zone.yaml", put(valid(), path, zone))
    message = cli(str(bad))
    assert message.startswith(
        f"{bad}:{line_of(bad, zone)}: {'.'.join(path)}: unknown IANA time zone {zone!r}"
    )


def test_unknown_time_zone_is_quoted_once(cli: Cli, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "zone.yaml", put(valid(), ("checkpoints", "gate", "timezone"), "Europe/Helsinky")
    )
    assert cli(str(bad)).count("'Europe/Helsinky'") == 1


# --- policies ---------------------------------------------------------------------------------


def test_unknown_policy_type_lists_the_types(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {"shut": {**closure(), "type": "closur"}}
    bad = write(tmp_path / "policy_type.yaml", data)
    message = cli(str(bad))
    line, rest = split(message, bad)
    assert line in mapping_lines(bad, "shut:")
    assert rest.startswith("policies.shut: ")
    assert "'closur'" in message
    for name in POLICY_TYPES:
        assert repr(name) in message


def test_unknown_distribution_lists_the_families(cli: Cli, tmp_path: Path) -> None:
    data = put(valid(), (*EXIT, "service_minutes"), {"dist": "weibull", "mean": 3})
    bad = write(tmp_path / "dist.yaml", data)
    message = cli(str(bad))
    line, rest = split(message, bad)
    assert line in mapping_lines(bad, "service_minutes:")
    assert rest.startswith("checkpoints.gate.modes.car.exit.service_minutes: ")
    assert "'weibull'" in message
    for name in ("exponential", "fixed", "uniform", "gamma", "lognormal"):
        assert repr(name) in message


def test_policy_without_type_lists_the_types(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    spec = closure()
    del spec["type"]
    data["policies"] = {"shut": spec}
    bad = write(tmp_path / "no_type.yaml", data)
    message = cli(str(bad))
    assert "policies.shut" in message and "type" in message
    assert "missing" in message
    for name in POLICY_TYPES:
        assert name in message


def test_capacity_change_that_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["policies"] = {
        "more": {
            "type": "capacity_change",
            "start": "2022-09-02T00:00:00+03:00",
            "checkpoint": "gate",
            "mode": "car",
            "source": "assumption",
        }
    }
    bad = write(tmp_path / "no_change.yaml", data)
    line, rest = split(cli(str(bad)), bad)
    assert line in mapping_lines(bad, "more:")
    assert rest.startswith("policies.more: set lanes and/or service_multiplier")


# --- parameters ------------------------------------------------------------------------------


def test_unknown_parameter_reference(cli: Cli, tmp_path: Path) -> None:
    data = put(valid(), (*EXIT, "lanes"), "$lanez")
    data["parameters"] = {"lanes": {"value": 3, "source": "assumption"}}
    bad = write(tmp_path / "parameter.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, '$lanez')}: checkpoints.gate.modes.car.exit.lanes: "
        "unknown parameter '$lanez' (did you mean '$lanes'?)"
    )


def test_parameter_reference_without_parameters(cli: Cli, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "no_parameters.yaml",
        put(valid(), ("demand", "choice", "hours_weight"), "$weight"),
    )
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, '$weight')}: demand.choice.hours_weight: unknown parameter '$weight'"
    )


def test_parameter_referring_to_a_parameter(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["parameters"] = {"a": {"value": "$b", "source": "x"}, "b": {"value": 1, "source": "x"}}
    bad = write(tmp_path / "chained.yaml", data)
    assert cli(str(bad)) == (
        f"{bad}:{line_of(bad, '$b')}: parameters.a.value: "
        "a parameter cannot refer to another parameter"
    )


def test_parameter_outside_its_bounds_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = valid()
    data["parameters"] = {"p": {"value": 5, "lower": 0, "upper": 3, "source": "assumption"}}
    path = write(tmp_path / "bounds.yaml", data)
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"flowsim: warning: {path}:{line_of(path, 'value: 5')}: parameters.p.value: "
        "5 is above its plausible upper bound 3"
    ]


# --- missing things ---------------------------------------------------------------------------


def test_missing_required_field(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    del data["demand"]["choice"]["hours_weight"]
    bad = write(tmp_path / "missing.yaml", data)
    line, rest = split(cli(str(bad)), bad)
    assert line in mapping_lines(bad, "choice:")
    assert rest == "demand.choice.hours_weight: required field is missing"


def test_missing_field_is_located_at_its_parent_key(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    del data["demand"]["choice"]["hours_weight"]
    bad = write(tmp_path / "missing.yaml", data)
    line, _ = split(cli(str(bad), commands=("check",)), bad)
    assert line == line_of(bad, "choice:")


def test_missing_required_top_level_field(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    del data["horizon"]
    bad = write(tmp_path / "no_horizon.yaml", data)
    assert cli(str(bad)) == f"{bad}: horizon: required field is missing"


def test_missing_parameter_source(cli: Cli, tmp_path: Path) -> None:
    data = valid()
    data["parameters"] = {"p": {"value": 3}}
    bad = write(tmp_path / "no_source.yaml", data)
    line, rest = split(cli(str(bad)), bad)
    assert line in mapping_lines(bad, "  p:")
    assert rest == "parameters.p.source: required field is missing"


def test_nonexistent_scenario_file(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert cli(str(missing)) == f"{missing}: file not found"


def test_scenario_path_is_a_directory(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert cli(str(folder)) == f"{folder}: is a directory, not a scenario file"


# --- file-level problems -------------------------------------------------------------------------


def test_yaml_syntax_error_names_the_line(cli: Cli, tmp_path: Path) -> None:
    text = yaml.safe_dump(valid(), sort_keys=False).replace("seed: 7\n", "seed: 7: 8\n")
    bad = write(tmp_path / "syntax.yaml", text)
    assert line_of(bad, "seed: 7: 8") == 5
    assert cli(str(bad)) == f"{bad}:5: YAML syntax error: mapping values are not allowed here"


def test_yaml_unclosed_bracket(cli: Cli, tmp_path: Path) -> None:
    text = yaml.safe_dump(valid(), sort_keys=False) + "extra: [1, 2\n"
    bad = write(tmp_path / "bracket.yaml", text)
    message = cli(str(bad))
    assert message.startswith(f"{bad}:")
    line = int(message.removeprefix(f"{bad}:").split(":")[0])
    assert line >= line_of(bad, "extra: [1, 2")
    assert "YAML syntax error" in message


def test_yaml_bad_indentation(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "indent.yaml", "name: x\nhorizon:\n  start: a\n end: b\n")
    assert cli(str(bad)).startswith(f"{bad}:4: YAML syntax error: ")


def test_duplicate_top_level_key(cli: Cli, tmp_path: Path) -> None:
    text = yaml.safe_dump(valid(), sort_keys=False) + "seed: 8\n"
    bad = write(tmp_path / "duplicate.yaml", text)
    assert cli(str(bad)) == f"{bad}:{line_of(bad, 'seed:', nth=2)}: duplicate key 'seed'"


def test_duplicate_nested_key(cli: Cli, tmp_path: Path) -> None:
    text = yaml.safe_dump(valid(), sort_keys=False).replace(
        "          lanes: 2\n", "          lanes: 2\n          lanes: 3\n", 1
    )
    bad = write(tmp_path / "duplicate_nested.yaml", text)
    assert cli(str(bad)) == f"{bad}:{line_of(bad, 'lanes: 3')}: duplicate key 'lanes'"


@pytest.mark.parametrize("content", ["", "   \n\n  \t\n"], ids=["empty", "blank"])
def test_empty_file(cli: Cli, tmp_path: Path, content: str) -> None:
    bad = write(tmp_path / "empty.yaml", content)
    assert cli(str(bad)) == f"{bad}: file is empty"


def test_top_level_is_not_a_mapping(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "list.yaml", "- name: x\n- seed: 1\n")
    assert cli(str(bad)) == f"{bad}:1: the top level must be a mapping of fields"


def test_non_utf8_file(cli: Cli, tmp_path: Path) -> None:
    text = yaml.safe_dump(valid(), sort_keys=False).replace(
        "name: single", "name: single\ndescription: café"
    )
    raw = text.encode("latin-1")
    offset = raw.index(b"\xe9")
    bad = write(tmp_path / "latin1.yaml", raw)
    line = raw[:offset].count(b"\n") + 1
    assert cli(str(bad)) == f"{bad}:{line}: not UTF-8 text (byte 0xe9 at offset {offset})"


def test_utf8_text_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The counterpart of the non-UTF-8 case: non-ASCII UTF-8 text loads."""
    data = put(valid(), ("description",), "Übergang für Fußgänger – café")
    good = write(tmp_path / "utf8.yaml", data)
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().err == ""


# --- extends -----------------------------------------------------------------------------------


def test_extends_cycle(cli: Cli, tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", {"extends": "b.yaml", "name": "a"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml", "name": "b"})
    message = cli(str(a))
    assert message.startswith(f"{a}: extends: ")
    assert "extends cycle: a.yaml -> b.yaml -> a.yaml" in message


def test_extends_itself(cli: Cli, tmp_path: Path) -> None:
    a = write(tmp_path / "self.yaml", {"extends": "self.yaml", "name": "a"})
    assert cli(str(a)) == f"{a}: extends: extends cycle: self.yaml -> self.yaml"


def test_extends_missing_file(cli: Cli, tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", {"extends": "missing_parent.yaml", "name": "child"})
    assert cli(str(child)) == (
        f"{child}:1: extends: extended file {str(tmp_path / 'missing_parent.yaml')!r} not found"
    )


def test_extends_not_a_path(cli: Cli, tmp_path: Path) -> None:
    child = write(tmp_path / "child.yaml", {"name": "child", "extends": 5})
    assert cli(str(child)) == f"{child}:2: extends: must be a file path"


def test_error_in_the_parent_names_the_parent(cli: Cli, tmp_path: Path) -> None:
    parent = write(tmp_path / "parent.yaml", put(valid(), (*EXIT, "lanes"), -3))
    child = write(tmp_path / "child.yaml", {"extends": "parent.yaml", "seed": 3})
    assert cli(str(child)) == (
        f"{parent}:{line_of(parent, 'lanes: -3')}: checkpoints.gate.modes.car.exit.lanes: "
        "Input should be greater than or equal to 0 (got -3)"
    )


def test_error_in_the_child_names_the_child(cli: Cli, tmp_path: Path) -> None:
    write(tmp_path / "parent.yaml", valid())
    child = write(
        tmp_path / "child.yaml",
        {
            "extends": "parent.yaml",
            "checkpoints": {"gate": {"modes": {"car": {"exit": {"lanes": -4}}}}},
        },
    )
    assert cli(str(child)) == (
        f"{child}:{line_of(child, 'lanes: -4')}: checkpoints.gate.modes.car.exit.lanes: "
        "Input should be greater than or equal to 0 (got -4)"
    )


def test_syntax_error_in_the_parent(cli: Cli, tmp_path: Path) -> None:
    parent = write(tmp_path / "parent.yaml", "name: x\nseed: 1: 2\n")
    child = write(tmp_path / "child.yaml", {"extends": "parent.yaml"})
    assert cli(str(child)) == f"{parent}:2: YAML syntax error: mapping values are not allowed here"


# --- command-line options -------------------------------------------------------------------------


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write(tmp_path / "good.yaml", valid())


@pytest.mark.parametrize("assignment", ["seed", "=3", ""], ids=["no-equals", "no-path", "empty"])
def test_set_without_equals(cli: Cli, good: Path, assignment: str) -> None:
    assert cli(str(good), "--set", assignment) == (
        f"--set: override {assignment!r} is not of the form path.to.field=value"
    )


def test_set_unparsable_value(cli: Cli, good: Path) -> None:
    assert cli(str(good), "--set", "demand.choice.hours_weight=[1") == (
        "--set: demand.choice.hours_weight: cannot parse value '[1': "
        "expected ',' or ']', but got '<stream end>'"
    )


def test_set_conflicting_paths(cli: Cli, good: Path) -> None:
    assert (
        cli(str(good), "--set", "seed=1", "--set", "seed.x=2")
        == "--set: seed.x: conflicting overrides"
    )


def test_set_bad_value_names_the_option(cli: Cli, good: Path) -> None:
    message = cli(str(good), "--set", "seed=-1")
    assert message.startswith("--set: seed: ")
    assert "(got -1)" in message


def test_set_unknown_field_names_the_option(cli: Cli, good: Path) -> None:
    message = cli(str(good), "--set", "demand.choice.hours_weigth=0.2")
    assert (
        message == "--set: demand.choice.hours_weigth: unknown field (did you mean 'hours_weight'?)"
    )


def test_set_unknown_field_suggests_the_field(cli: Cli, good: Path) -> None:
    """Whatever the location, the suggestion for a misspelt --set path is right."""
    message = cli(str(good), "--set", "demand.choice.hours_weigth=0.2")
    assert message.endswith(
        "demand.choice.hours_weigth: unknown field (did you mean 'hours_weight'?)"
    )


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--replications", "0", "must be at least 1, got 0"),
        ("--replications", "-3", "must be at least 1, got -3"),
        ("--replications", "many", "expected a whole number, got 'many'"),
        ("--workers", "0", "must be at least 1, got 0"),
        ("--seed", "-1", "must be between 0 and 2**63-1, got -1"),
    ],
)
def test_bad_run_option_is_an_argparse_error(
    work: Path,
    good: Path,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    problem: str,
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(good), option, value, "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1  # no usage dump: one line, like every other error
    assert err.startswith(f"flowsim: error: run: argument {option}")
    assert problem in err
    assert list(work.iterdir()) == []


def test_unknown_subcommand_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "x.yaml"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'simulate'" in capsys.readouterr().err.splitlines()[-1]


def test_information_update_not_a_multiple_of_15_is_rejected(cli: Cli, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "update.yaml",
        put(valid(), ("demand", "choice", "information_update_minutes"), 10),
    )
    message = cli(str(bad), commands=("check",))
    assert "demand.choice.information_update_minutes" in message


def test_check_reports_the_first_bad_file_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], good: Path
) -> None:
    bad = write(tmp_path / "bad.yaml", put(valid(), (*EXIT, "lanes"), -1))
    assert main(["check", str(good), str(bad), str(good)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{good}: ok (single: 1 checkpoints, 1 origins, 0 policies)"
    ]
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"flowsim: error: {bad}:")


# --- the real console script --------------------------------------------------------------------


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not FLOWSIM.exists():
        pytest.skip(f"console script {FLOWSIM} not installed")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [str(FLOWSIM), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_console_script_exit_status_and_one_line(tmp_path: Path) -> None:
    data = copy.deepcopy(valid())
    data["policies"] = {"shut": closure(checkpoint="gat")}
    bad = write(tmp_path / "bad.yaml", data)
    work = tmp_path / "work"
    work.mkdir()
    for command in (["check"], ["run", "--quiet"]):
        done = _script(*command, str(bad), cwd=work)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr.splitlines() == [
            f"flowsim: error: {bad}:{line_of(bad, 'checkpoint: gat')}: policies.shut.checkpoint: "
            "unknown checkpoint 'gat' (did you mean 'gate'?)"
        ]
    assert list(work.iterdir()) == []


def test_console_script_argparse_error(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", valid())
    done = _script("run", str(good), "--replications", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "flowsim: error: run: argument --replications/-n: must be at least 1, got 0 "
        "(see flowsim run --help)"
    ]
    assert not (tmp_path / "results").exists()

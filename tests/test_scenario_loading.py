"""The scenario loader's good paths: files, ``extends``, ``$parameters``, overrides, dumps.

Fixtures: ``tests/scenarios/small.yaml`` (every section of the format, every
distribution family and policy type) and ``tests/scenarios/variants/no_ban.yaml``
(extends it by a relative path, deletes keys with ``null``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml
from builders import single_checkpoint

from flowsim.cli import main
from flowsim.errors import ScenarioError
from flowsim.scenario import (
    Scenario,
    dump_resolved,
    json_schema,
    load_scenario,
    scenario_from_mapping,
)
from flowsim.scenario.loader import _Loader, deep_merge, load_raw, parse_overrides
from flowsim.scenario.schema import (
    CapacityChange,
    Closure,
    EntryBan,
    ExitScreening,
    Exponential,
    Gamma,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
HISTORICAL = SCENARIOS / "historical_2022.yaml"
FIXTURES = Path(__file__).resolve().parent / "scenarios"
SMALL = FIXTURES / "small.yaml"
VARIANT = FIXTURES / "variants" / "no_ban.yaml"
DOCS = ROOT / "docs" / "scenario.md"


def _small_mapping() -> dict:
    return single_checkpoint(
        arrivals_per_hour=2.0, service_minutes={"dist": "exponential", "mean": 5.0}, lanes=2, days=5
    )


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


# --- plain files ---------------------------------------------------------------------


def test_minimal_scenario_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path / "minimal.yaml", _small_mapping())
    s = load_scenario(path)
    assert isinstance(s, Scenario)
    assert s.name == "single"
    assert s.seed == 7 and s.replications == 2
    assert list(s.checkpoints) == ["gate"]
    stage = s.checkpoints["gate"].modes["car"].exit
    assert stage.lanes == 2
    assert stage.service_minutes.dist == "exponential"
    assert stage.service_minutes.mean == 5.0
    assert s.horizon.start == dt.datetime(2022, 9, 1, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert s.horizon.start.utcoffset() == dt.timedelta(hours=3)


def test_defaults_are_filled_in(tmp_path: Path) -> None:
    data = _small_mapping()
    del data["seed"], data["replications"], data["policies"]
    s = load_scenario(_write(tmp_path / "defaults.yaml", data))
    assert s.seed == 0
    assert s.replications == 10
    assert s.policies == {}
    assert s.description == ""
    assert s.demand.timezone == "Europe/Moscow"
    assert s.demand.weekday_factors == [1.0] * 7
    assert s.demand.hourly_factors == [1.0] * 24
    assert s.demand.surge == []
    assert s.demand.choice.information_update_minutes == 60.0
    assert s.demand.choice.balk_hours is None
    assert s.demand.choice.patience_hours is None
    assert s.checkpoints["gate"].opening_hours is None
    assert s.attributes["visa"].surge_share is None
    assert s.attributes["visa"].given is None
    assert s.countries["Testland"].requires == []
    assert s.countries["Testland"].attractiveness == 0.0


def test_string_path_is_accepted() -> None:
    assert load_scenario(str(SMALL)) == load_scenario(SMALL)


def test_yaml_timestamps_keep_their_offset() -> None:
    """Timestamps are not turned into naive datetimes by YAML: the offset survives."""
    s = load_scenario(SMALL)
    closure = s.policies["north_repairs"]
    assert isinstance(closure, Closure)
    assert closure.start.utcoffset() == dt.timedelta(hours=3)
    assert closure.start.astimezone(dt.UTC) == dt.datetime(2022, 9, 8, 5, 0, tzinfo=dt.UTC)


def test_small_fixture_has_every_section() -> None:
    s = load_scenario(SMALL)
    assert {p.type for p in s.policies.values()} == {
        "entry_ban",
        "access_restriction",
        "exit_screening",
        "capacity_change",
        "closure",
    }
    dists = {
        stage.service_minutes.dist
        for cp in s.checkpoints.values()
        for mode in cp.modes.values()
        for stage in (mode.exit, mode.entry)
    }
    assert dists == {"exponential", "fixed", "uniform", "gamma", "lognormal"}
    assert {c.party_size.dist for c in s.demand.classes.values()} == {
        "categorical",
        "shifted_poisson",
    }
    assert s.attributes["visa"].given == "passport"
    assert s.attributes["man"].per == "person"
    assert s.countries["Northland"].requires == ["visa"]
    assert s.checkpoints["north_gate"].opening_hours[0].open == "07:00"
    assert s.demand.origins["south"].attribute_shares == {"passport": 0.9}
    assert s.policies["south_car_stop"].selector.without == ["passport"]
    assert s.policies["south_car_stop"].selector.modes == ["car"]


def test_selector_with_is_read_from_its_yaml_name(tmp_path: Path) -> None:
    data = yaml.load(SMALL.read_text(encoding="utf-8"), Loader=_Loader)
    data["policies"]["south_car_stop"]["selector"] = {"with": ["man"], "without": ["passport"]}
    s = load_scenario(_write(tmp_path / "with.yaml", data))
    assert s.policies["south_car_stop"].selector.with_ == ["man"]
    assert "with:" in dump_resolved(s)


# --- extends ---------------------------------------------------------------------------


def test_deep_merge_semantics() -> None:
    base = {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "l": [1, 2, 3], "gone": 5, "s": "old"}
    override = {"a": {"y": {"q": 20, "r": 30}}, "l": [9], "gone": None, "s": "new", "n": {"k": 1}}
    merged = deep_merge(base, override)
    assert merged == {
        "a": {"x": 1, "y": {"p": 1, "q": 20, "r": 30}},
        "l": [9],
        "s": "new",
        "n": {"k": 1},
    }
    assert base["a"]["y"] == {"p": 1, "q": 2}, "the base must not be modified"
    assert deep_merge({"a": 1}, {"b": None}) == {"a": 1}, "deleting a missing key is a no-op"
    assert deep_merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}, "a scalar replaces a mapping"


def test_extends_merges_mappings_recursively() -> None:
    parent = load_scenario(SMALL)
    child = load_scenario(VARIANT)
    assert child.name == "small_no_ban"
    # the changed lane count and everything next to it
    east = child.checkpoints["east_gate"].modes["car"]
    assert east.exit.lanes == 6
    assert (
        east.exit.service_minutes
        == parent.checkpoints["east_gate"].modes["car"].exit.service_minutes
    )
    assert east.entry == parent.checkpoints["east_gate"].modes["car"].entry
    assert east.queue_space_m == 7
    # untouched sections are inherited whole
    assert child.horizon == parent.horizon
    assert child.attributes == parent.attributes
    assert child.countries == parent.countries
    assert child.demand.origins == parent.demand.origins
    assert child.checkpoints["north_gate"] == parent.checkpoints["north_gate"]
    # a parameter's value changes, its bounds and source stay
    assert child.parameters["hours_weight"].value == 0.2
    assert child.parameters["hours_weight"].lower == parent.parameters["hours_weight"].lower
    assert child.parameters["hours_weight"].source == "assumption"


def test_extends_null_deletes_keys() -> None:
    parent = load_scenario(SMALL)
    child = load_scenario(VARIANT)
    assert "north_ban" in parent.policies
    assert "north_ban" not in child.policies
    assert set(child.policies) == set(parent.policies) - {"north_ban"}
    assert parent.demand.choice.balk_hours is not None
    assert child.demand.choice.balk_hours is None
    assert child.demand.choice.patience_hours == parent.demand.choice.patience_hours


def test_extends_parameter_override_reaches_references() -> None:
    """References resolve after merging: the child's parameter value wins everywhere."""
    assert load_scenario(SMALL).demand.choice.hours_weight == 0.1
    assert load_scenario(VARIANT).demand.choice.hours_weight == 0.2


def test_relative_extends_resolves_against_the_child_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_scenario(VARIANT).name == "small_no_ban"
    # and a relative child path, from a working directory above it
    monkeypatch.chdir(FIXTURES)
    assert load_scenario(Path("variants") / "no_ban.yaml").name == "small_no_ban"


def test_extends_chain_and_sibling_folder(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "runs" / "deep").mkdir(parents=True)
    _write(tmp_path / "base" / "root.yaml", _small_mapping())
    _write(tmp_path / "runs" / "mid.yaml", {"extends": "../base/root.yaml", "seed": 99})
    _write(
        tmp_path / "runs" / "deep" / "leaf.yaml",
        {
            "extends": "../mid.yaml",
            "name": "leaf",
            "checkpoints": {"gate": {"modes": {"car": {"exit": {"lanes": 5}}}}},
        },
    )
    s = load_scenario(tmp_path / "runs" / "deep" / "leaf.yaml")
    assert (s.name, s.seed, s.checkpoints["gate"].modes["car"].exit.lanes) == ("leaf", 99, 5)
    assert s.replications == 2


def test_extends_with_absolute_path_is_refused(tmp_path: Path) -> None:
    """A scenario must mean the same on every machine: its parent is found relative to it."""
    child = _write(tmp_path / "child.yaml", {"extends": str(SMALL), "name": "absolute"})
    with pytest.raises(
        ScenarioError, match="is absolute; give the path relative to this file's folder"
    ):
        load_scenario(child)


def test_extends_key_is_not_in_the_merged_data() -> None:
    raw = load_raw(VARIANT)
    assert "extends" not in raw.data
    assert raw.origin == str(VARIANT)


def test_line_map_points_into_the_file_that_set_the_value() -> None:
    raw = load_raw(VARIANT)
    file, line = raw.locate(("checkpoints", "east_gate", "modes", "car", "exit", "lanes"))
    assert Path(file).name == "no_ban.yaml"
    assert (
        VARIANT.read_text(encoding="utf-8")
        .splitlines()[line - 1]
        .strip()
        .startswith("exit: {lanes: 6}")
    )
    file, line = raw.locate(("checkpoints", "north_gate", "timezone"))
    assert Path(file).name == "small.yaml"
    assert (
        SMALL.read_text(encoding="utf-8").splitlines()[line - 1].strip()
        == "timezone: Europe/Helsinki"
    )


# --- $parameters ------------------------------------------------------------------------


def test_parameter_references_are_replaced_by_values() -> None:
    s = load_scenario(SMALL)
    assert s.parameters["north_car_lanes"].value == 3
    assert s.checkpoints["north_gate"].modes["car"].exit.lanes == 3
    assert isinstance(s.checkpoints["north_gate"].modes["car"].exit.lanes, int)
    assert s.attributes["man"].surge_share == 0.7
    assert s.countries["Northland"].attractiveness == 0.5
    assert s.demand.choice.hours_weight == 0.1
    assert "$" not in dump_resolved(s)


def test_parameter_reference_in_lists_and_nested_mappings(tmp_path: Path) -> None:
    data = _small_mapping()
    data["parameters"] = {
        "mean": {"value": 4.5, "source": "assumption"},
        "peak": {"value": 300, "lower": 0, "upper": 1000, "source": "assumption"},
    }
    data["checkpoints"]["gate"]["modes"]["car"]["exit"]["service_minutes"] = {
        "dist": "gamma",
        "mean": "$mean",
        "cv": 0.5,
    }
    data["demand"]["surge"] = [
        {"at": "2022-09-02T00:00:00+03:00", "per_day": 0},
        {"at": "2022-09-03T00:00:00+03:00", "per_day": "$peak"},
    ]
    data["demand"]["weekday_factors"] = [1, 1, 1, 1, "$mean", 1, 1]
    s = load_scenario(_write(tmp_path / "refs.yaml", data))
    assert s.checkpoints["gate"].modes["car"].exit.service_minutes == Gamma(
        dist="gamma", mean=4.5, cv=0.5
    )
    assert s.demand.surge[1].per_day == 300
    assert s.demand.weekday_factors[4] == 4.5


def test_only_whole_strings_are_references(tmp_path: Path) -> None:
    data = _small_mapping()
    data["parameters"] = {"x": {"value": 1, "source": "assumption"}}
    data["description"] = "costs $x per day, see $x"
    s = load_scenario(_write(tmp_path / "text.yaml", data))
    assert s.description == "costs $x per day, see $x"


def test_scenario_from_mapping_resolves_parameters() -> None:
    data = _small_mapping()
    data["parameters"] = {"w": {"value": 0.3, "source": "assumption"}}
    data["demand"]["choice"]["hours_weight"] = "$w"
    assert scenario_from_mapping(copy.deepcopy(data)).demand.choice.hours_weight == 0.3


# --- overrides ----------------------------------------------------------------------------


def test_override_strings() -> None:
    s = load_scenario(SMALL, ["demand.choice.hours_weight=0.2"])
    assert s.demand.choice.hours_weight == 0.2
    assert load_scenario(SMALL).demand.choice.hours_weight == 0.1


def test_several_overrides_of_different_types() -> None:
    s = load_scenario(
        SMALL,
        [
            "seed=123",
            "name=renamed",
            "checkpoints.east_gate.modes.car.exit.lanes=9",
            "demand.weekday_factors=[1, 1, 1, 1, 1, 2, 2]",
            "checkpoints.east_gate.modes.car.exit.service_minutes="
            "{dist: exponential, mean: 3, cv: null}",
        ],
    )
    assert (s.seed, s.name) == (123, "renamed")
    assert s.checkpoints["east_gate"].modes["car"].exit.lanes == 9
    assert s.demand.weekday_factors == [1, 1, 1, 1, 1, 2, 2]
    assert s.checkpoints["east_gate"].modes["car"].exit.service_minutes.dist == "exponential"
    assert s.checkpoints["east_gate"].modes["car"].entry.lanes == 5, "siblings survive an override"


def test_override_of_a_parameter_value_reaches_its_references() -> None:
    s = load_scenario(SMALL, ["parameters.north_car_lanes.value=7"])
    assert s.checkpoints["north_gate"].modes["car"].exit.lanes == 7
    assert s.parameters["north_car_lanes"].lower == 1


def test_override_with_a_reference_and_with_null() -> None:
    s = load_scenario(
        SMALL, ["demand.choice.informed_share=$man_surge_share", "demand.choice.balk_hours=null"]
    )
    assert s.demand.choice.informed_share == 0.7
    assert s.demand.choice.balk_hours is None


def test_override_applies_over_extends() -> None:
    s = load_scenario(VARIANT, ["policies.north_repairs=null", "parameters.hours_weight.value=0.4"])
    assert "north_repairs" not in s.policies and "north_ban" not in s.policies
    assert s.demand.choice.hours_weight == 0.4


def test_override_merges_into_a_distribution_mapping_unless_it_names_its_dist() -> None:
    """Without ``dist`` a mapping merges; with it, it is a new distribution (no stray ``cv``)."""
    path = "checkpoints.east_gate.modes.car.exit.service_minutes"
    s = load_scenario(SMALL, [f"{path}.mean=8"])
    assert s.checkpoints["east_gate"].modes["car"].exit.service_minutes == Gamma(
        dist="gamma", mean=8, cv=0.5
    )
    for text in ("{dist: exponential, mean: 3}", "{dist: exponential, mean: 3, cv: null}"):
        s = load_scenario(SMALL, [f"{path}={text}"])
        assert s.checkpoints["east_gate"].modes["car"].exit.service_minutes == Exponential(
            dist="exponential", mean=3
        )
    with pytest.raises(ScenarioError, match=r"service_minutes\.cv: required field is missing"):
        load_scenario(SMALL, [f"{path}={{dist: lognormal, mean: 3}}"])


def test_later_override_wins_and_mapping_overrides() -> None:
    s = load_scenario(SMALL, ["seed=1", "seed=2"])
    assert s.seed == 2
    s = load_scenario(SMALL, {"demand": {"choice": {"hours_weight": 0.25}}})
    assert s.demand.choice.hours_weight == 0.25


def test_parse_overrides_nests_paths() -> None:
    assert parse_overrides(["a.b.c=1", "a.b.d=x", "e=[1, 2]", "f=null", "g= 2.5"]) == {
        "a": {"b": {"c": 1, "d": "x"}},
        "e": [1, 2],
        "f": None,
        "g": 2.5,
    }
    assert parse_overrides(["when=2022-09-01T00:00:00+03:00"]) == {
        "when": "2022-09-01T00:00:00+03:00"
    }


# --- dump_resolved -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SMALL, VARIANT, HISTORICAL], ids=lambda p: p.name)
def test_dump_resolved_reloads_to_an_equal_scenario(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    text = dump_resolved(scenario)
    assert "extends" not in yaml.safe_load(text)
    again = load_scenario(_write_text(tmp_path / "resolved.yaml", text))
    assert again == scenario
    assert dump_resolved(again) == text, "dumping is stable"


def test_dump_resolved_with_overrides_round_trips(tmp_path: Path) -> None:
    scenario = load_scenario(VARIANT, ["demand.choice.hours_weight=0.3", "seed=5"])
    again = load_scenario(_write_text(tmp_path / "resolved.yaml", dump_resolved(scenario)))
    assert again == scenario
    assert again.demand.choice.hours_weight == 0.3


def test_dump_resolved_writes_aware_timestamps_and_aliases() -> None:
    data = yaml.safe_load(dump_resolved(load_scenario(SMALL)))
    assert data["horizon"]["start"] == "2022-09-01T00:00:00+03:00"
    assert data["policies"]["south_car_stop"]["selector"]["with"] == []
    assert "with_" not in data["policies"]["south_car_stop"]["selector"]
    assert data["replications"] == 3


def test_cli_resolve_prints_the_dump(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", str(VARIANT), "--set", "seed=4"]) == 0
    out = capsys.readouterr().out
    assert out == dump_resolved(load_scenario(VARIANT, ["seed=4"]))


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- json_schema ---------------------------------------------------------------------------


def test_json_schema_shape() -> None:
    schema = json_schema()
    json.loads(json.dumps(schema))  # plain JSON
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["title"] == "flowsim scenario"
    props = schema["properties"]
    for name in Scenario.model_fields:
        assert name in props, name
    assert props["extends"]["type"] == "string"
    assert set(schema["required"]) >= {"name", "horizon", "countries", "checkpoints", "demand"}
    assert "extends" not in schema["required"]
    assert schema.get("additionalProperties") is False
    # policy and distribution unions are discriminated by their tags
    text = json.dumps(schema)
    for tag in ("entry_ban", "access_restriction", "exit_screening", "capacity_change", "closure"):
        assert f'"{tag}"' in text
    for tag in (
        "exponential",
        "fixed",
        "uniform",
        "gamma",
        "lognormal",
        "shifted_poisson",
        "categorical",
    ):
        assert f'"{tag}"' in text
    # the selector's key appears as written in YAML
    assert '"with"' in text and '"with_"' not in text


def test_cli_schema_prints_the_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()
    out = tmp_path / "schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == json_schema()


def test_json_schema_is_valid_and_accepts_resolved_scenarios() -> None:
    import jsonschema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in (HISTORICAL, SMALL):
        resolved = yaml.safe_load(dump_resolved(load_scenario(path)))
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(resolved)]
        assert errors == [], errors[:5]
    bad = yaml.safe_load(dump_resolved(load_scenario(SMALL)))
    bad["checkpoints"]["east_gate"]["modes"]["car"]["exit"]["lanse"] = 3
    assert not validator.is_valid(bad)


def test_json_schema_accepts_the_historical_file_as_written() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(json_schema())
    raw = yaml.load(HISTORICAL.read_text(encoding="utf-8"), Loader=_Loader)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(raw)]
    assert errors == [], errors[:5]


# --- every shipped scenario ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", _yaml_files(SCENARIOS), ids=lambda p: str(p.relative_to(SCENARIOS))
)
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name
    assert scenario.checkpoints


def test_historical_scenario_is_found() -> None:
    assert HISTORICAL in _yaml_files(SCENARIOS)
    s = load_scenario(HISTORICAL)
    assert s.name == "historical_2022"
    assert s.demand.surge[2].per_day == s.parameters["surge_day4"].value


@pytest.mark.parametrize("path", _yaml_files(FIXTURES), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_scenario_loads(path: Path) -> None:
    assert load_scenario(path).name


def test_cli_check_accepts_several_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SMALL), str(VARIANT)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{SMALL}: ok (small: 3 checkpoints, 2 origins, 6 policies)",
        f"{VARIANT}: ok (small_no_ban: 3 checkpoints, 2 origins, 5 policies)",
    ]


# --- the documentation's examples ----------------------------------------------------------


def _doc_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)


def test_doc_yaml_examples_parse() -> None:
    blocks = _doc_blocks()
    assert len(blocks) >= 10
    for block in blocks:
        data = yaml.load(block, Loader=_Loader)
        assert isinstance(data, dict), block


def test_doc_examples_validate() -> None:
    """Whole-file examples validate alone; fragments validate merged over the historical file."""
    base = load_raw(HISTORICAL).data
    for block in _doc_blocks():
        data = yaml.load(block, Loader=_Loader)
        if "extends" in data:
            continue  # needs its parent file
        whole = "horizon" in data and "checkpoints" in data
        merged = data if whole else deep_merge(copy.deepcopy(base), data)
        try:
            scenario_from_mapping(merged)
        except Exception as err:  # pragma: no cover - the message is the point
            pytest.fail(f"documentation example does not validate: {err}\n{block}")


def test_doc_policy_examples_cover_every_type() -> None:
    types = set()
    for block in _doc_blocks():
        for spec in (yaml.load(block, Loader=_Loader).get("policies") or {}).values():
            if isinstance(spec, dict) and "type" in spec:
                types.add(spec["type"])
    assert types == {
        "entry_ban",
        "access_restriction",
        "exit_screening",
        "capacity_change",
        "closure",
    }


def _schema_models() -> list[type]:
    """Every pydantic model reachable from `Scenario`."""
    import typing

    from pydantic import BaseModel

    seen: list[type] = []

    def visit(annotation: object) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.append(annotation)
            for f in annotation.model_fields.values():
                visit(f.annotation)
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    visit(Scenario)
    return seen


def test_docs_mention_every_schema_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [
        f"{model.__name__}.{f.alias or name}"
        for model in _schema_models()
        for name, f in model.model_fields.items()
        if f"`{f.alias or name}`" not in text
    ]
    assert missing == []
    assert len(_schema_models()) >= 25


def test_small_fixture_policy_types() -> None:
    s = load_scenario(SMALL)
    assert isinstance(s.policies["north_ban"], EntryBan)
    assert isinstance(s.policies["east_screening"], ExitScreening)
    assert isinstance(s.policies["south_walkers"], CapacityChange)
    assert s.policies["south_walkers"].stages == ["exit", "entry"]
    assert s.policies["east_screening"].attribute == "man"

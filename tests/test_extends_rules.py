"""The merge rule of ``extends`` and ``--set`` (issue 15, item 9; docs/scenario.md).

Mappings merge key by key; lists, a mapping that names its ``type`` or ``dist`` (a new
definition of a policy or distribution) and a policy's ``where`` and ``selector`` (sets)
replace the parent's whole.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowsim.scenario import load_scenario

BASE = Path(__file__).parent / "bad_inputs" / "_base.yaml"


def _child(tmp_path: Path, text: str):
    (tmp_path / "_base.yaml").write_text(BASE.read_text(encoding="utf-8"), encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("extends: _base.yaml\n" + text, encoding="utf-8")
    return load_scenario(child)


def test_a_redefined_policy_replaces_the_parents(tmp_path):
    s = _child(
        tmp_path,
        "policies:\n  north_ban:\n    type: entry_ban\n    start: 2022-09-07T00:00:00+03:00\n"
        "    where: {checkpoints: [north_gate]}\n    attribute: passport\n    source: child\n",
    )
    ban = s.policies["north_ban"]
    assert ban.where.checkpoints == ["north_gate"] and ban.where.countries == []
    assert (ban.attribute, ban.source) == ("passport", "child")


def test_a_policys_where_and_selector_replace_and_other_fields_merge(tmp_path):
    s = _child(
        tmp_path,
        "policies:\n  north_ban:\n    where: {checkpoints: [north_gate]}\n"
        "    end: 2022-09-08T00:00:00+03:00\n"
        "  south_car_stop: {selector: {modes: [pedestrian]}}\n",
    )
    ban = s.policies["north_ban"]
    assert (ban.where.checkpoints, ban.where.countries) == (["north_gate"], [])
    assert ban.attribute == "visa" and ban.end is not None
    stop = s.policies["south_car_stop"]
    assert stop.selector.modes == ["pedestrian"] and stop.selector.without == []
    assert stop.compliance == 0.8


def test_lists_replace(tmp_path):
    s = _child(tmp_path, "demand:\n  surge:\n    - {at: 2022-09-05T00:00:00+03:00, per_day: 10}\n")
    assert [k.per_day for k in s.demand.surge] == [10]


@pytest.mark.parametrize("where", ["file", "--set"])
def test_the_same_rule_holds_for_set(where, tmp_path):
    text = "{type: closure, checkpoint: east_gate, start: 2022-09-09T00:00:00+03:00, source: x}"
    if where == "file":
        s = _child(tmp_path, f"policies:\n  north_repairs: {text}\n")
    else:
        s = load_scenario(BASE, [f"policies.north_repairs={text}"])
    repairs = s.policies["north_repairs"]
    assert (repairs.checkpoint, repairs.end, repairs.source) == ("east_gate", None, "x")


def test_a_name_that_is_also_a_tag_key_merges_like_any_other(tmp_path):
    s = _child(
        tmp_path,
        "parameters:\n  type: {value: 1, source: assumption}\n  hours_weight: {value: 0.2}\n",
    )
    assert s.parameters["type"].value == 1
    assert s.parameters["hours_weight"].lower == 0.01, "the parent's bounds are kept"
    assert "north_car_lanes" in s.parameters

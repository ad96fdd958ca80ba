"""The bad-input corpus (tests/bad_inputs/, see its README.md).

Every corrupt file and every mistaken command line gives exit status 2, exactly its one
expected line on stderr (naming the file), no traceback, and writes nothing. Every file
of ``warnings/`` loads, and gives exactly its expected ``flowsim: warning:`` lines.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from flowsim.checks import check_scenario, observation_warnings
from flowsim.cli import main
from flowsim.errors import FlowsimError, ScenarioError
from flowsim.inference.observations import load_observations
from flowsim.scenario import load_scenario

CORPUS = Path(__file__).parent / "bad_inputs"
ROOT = Path(__file__).resolve().parent.parent


def _table(path: Path) -> list[tuple[str, str]]:
    """Rows of a tab-separated expectation file; a row without its expected line fails loudly."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line and not line.startswith("#"):
            assert line.count("\t") == 1, (
                f"{path.name}:{number}: expected 'input<TAB>expected line'"
            )
            left, expected = line.split("\t")
            rows.append((left, expected))
    return rows


FILES = _table(CORPUS / "expected.tsv")
OPTIONS = _table(CORPUS / "options.tsv")
WARNINGS = _table(CORPUS / "warnings" / "expected.tsv")


def _corpus_files(folder: Path) -> set[str]:
    return {
        p.name
        for p in folder.iterdir()
        if p.suffix in (".yaml", ".csv") and not p.name.startswith("_")
    }


def test_the_corpus_is_complete_and_large_enough():
    assert {name for name, _ in FILES} == _corpus_files(CORPUS)
    assert {name for name, _ in WARNINGS} == _corpus_files(CORPUS / "warnings")
    assert len(FILES) >= 40
    assert len({name for name, _ in FILES if name.endswith(".csv")}) >= 10


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, list[str]]:
    """Run ``flowsim ARGS`` in the corpus folder; return the status, stdout and stderr lines."""
    monkeypatch.chdir(CORPUS)
    try:
        code = main(args)
    except SystemExit as stop:  # argparse
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def _extends(name: str) -> list[str]:
    """The files `name` extends, nearest first (to tell which file an error may name)."""
    chain, seen = [], {name}
    while True:
        first = (CORPUS / name).read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
        if not first.startswith("extends:"):
            return chain
        name = first.removeprefix("extends:").strip()
        if name in seen or not (CORPUS / name).is_file():
            return chain
        chain.append(name)
        seen.add(name)


@pytest.mark.parametrize(("name", "expected"), FILES, ids=[n for n, _ in FILES])
def test_each_corrupt_file_gives_its_one_line_error(name, expected, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    if name.endswith(".csv"):
        args = ["validate", "_base.yaml", "--observations", name, "-q", "--out", str(out)]
    else:
        args = ["run", name, "-q", "--out", str(out)]
    code, stdout, err = run_cli(args, capsys, monkeypatch)
    assert code == 2
    assert err == [expected]
    assert "Traceback" not in expected and stdout == ""
    named = expected.removeprefix("flowsim: error: ").split(":")[0]
    assert named == name or named in _extends(name), (
        "the message names the file (or the parent at fault)"
    )
    assert not list(tmp_path.iterdir()), "nothing is written"


@pytest.mark.parametrize(("command", "expected"), OPTIONS, ids=[c for c, _ in OPTIONS])
def test_each_command_line_mistake_gives_its_one_line_error(
    command, expected, tmp_path, capsys, monkeypatch
):
    a_file = tmp_path / "a_file.txt"
    a_file.write_text("not results\n")
    a_folder = tmp_path / "a_folder"
    a_folder.mkdir()
    (a_folder / "thesis.tex").write_text("precious\n")
    places = {
        "{base}": "_base.yaml",
        "{obs}": "_observations.csv",
        "{out}": str(tmp_path / "out"),
        "{a_file}": str(a_file),
        "{a_folder}": str(a_folder),
    }

    def fill(text: str) -> str:
        for key, value in places.items():
            text = text.replace(key, value)
        return text

    code, _, err = run_cli([fill(a) for a in shlex.split(command)], capsys, monkeypatch)
    assert code == 2 and err == [fill(expected)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.txt", "a_folder"], (
        "nothing is written"
    )
    assert a_file.read_text() == "not results\n"
    assert [p.name for p in a_folder.iterdir()] == ["thesis.tex"]


# --- warnings --------------------------------------------------------------------------------


def _expected_warnings(name: str) -> list[str]:
    return [line for file, line in WARNINGS if file == name]


@pytest.mark.parametrize("name", sorted({n for n, _ in WARNINGS if n.endswith(".yaml")}))
def test_each_warning_file_loads_and_gives_its_warnings(name, capsys, monkeypatch):
    monkeypatch.chdir(CORPUS / "warnings")
    assert main(["check", name]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{name}: ok")
    expected = _expected_warnings(name)
    assert captured.err.splitlines() == expected
    # The same lines from Python, without the prefix.
    _, warnings = check_scenario(name)
    assert [f"flowsim: warning: {w}" for w in warnings] == expected


@pytest.mark.parametrize("name", sorted({n for n, _ in WARNINGS if n.endswith(".csv")}))
def test_each_warning_csv_loads_and_gives_its_warnings(name, monkeypatch):
    monkeypatch.chdir(CORPUS)
    path = f"warnings/{name}"
    scenario = load_scenario("_base.yaml")
    observations = load_observations(path, scenario)
    rows = Path(path).read_text(encoding="utf-8").splitlines()[1:]
    assert len(observations) == len(rows)
    lines = [f"flowsim: warning: {w}" for w in observation_warnings(observations, scenario, path)]
    assert lines == _expected_warnings(name)


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").rglob("*.yaml"))
)
def test_shipped_scenarios_load_without_warnings(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert check_scenario(path)[1] == []


def test_a_value_outside_its_plausible_range_is_allowed_inverted_bounds_are_not():
    scenario, warnings = check_scenario(CORPUS / "warnings" / "parameter_above_upper.yaml")
    assert scenario.parameters["hours_weight"].value == 0.9
    assert scenario.demand.choice.hours_weight == 0.9
    assert len(warnings) == 1
    with pytest.raises(ScenarioError, match=r"lower bound 0\.5 is above upper bound 0\.01"):
        load_scenario(CORPUS / "parameter_bounds_inverted.yaml")


def test_an_override_outside_the_range_is_a_warning_naming_the_option():
    _, warnings = check_scenario(CORPUS / "_base.yaml", ["parameters.hours_weight.value=2"])
    assert warnings == [
        "--set: parameters.hours_weight.value: 2 is above its plausible upper bound 0.5"
    ]


def test_capacity_changes_that_do_not_contradict_each_other_are_accepted():
    """Back-to-back windows, other stages, or one setting lanes and the other service times."""
    base = {
        "type": "capacity_change",
        "checkpoint": "south_gate",
        "mode": "car",
        "source": "assumption",
    }
    ok = {
        "back_to_back": {
            **base,
            "start": "2022-09-09T00:00:00+03:00",
            "stages": ["entry"],
            "service_multiplier": 1.5,
        },
        "other_stage": {
            **base,
            "start": "2022-09-07T00:00:00+03:00",
            "stages": ["exit"],
            "service_multiplier": 2,
        },
        "lanes_only": {**base, "start": "2022-09-07T00:00:00+03:00", "lanes": 2},
    }
    scenario = load_scenario(CORPUS / "_base.yaml", {"policies": ok})
    assert {"back_to_back", "other_stage", "lanes_only", "south_faster_entry"} <= set(
        scenario.policies
    )


# --- safety ----------------------------------------------------------------------------------


def test_yaml_cannot_run_code(monkeypatch):
    """``!!python/object/apply:os.system`` is refused by our error, and nothing is called."""
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(CORPUS / "python_object_tag.yaml")
    assert "YAML tag '!!python/object/apply:os.system' is not allowed" in str(caught.value)
    with pytest.raises(ScenarioError):
        load_scenario(
            CORPUS / "_base.yaml", ['name=!!python/object/apply:os.system ["echo hacked"]']
        )
    assert calls == []


def test_extends_resolves_against_the_file_and_may_climb_with_dotdot(tmp_path, monkeypatch):
    (tmp_path / "base").mkdir()
    (tmp_path / "runs" / "deep").mkdir(parents=True)
    (tmp_path / "base" / "b.yaml").write_text((CORPUS / "_base.yaml").read_text(encoding="utf-8"))
    child = tmp_path / "runs" / "deep" / "child.yaml"
    child.write_text("extends: ../../base/b.yaml\nname: climbed\n")
    monkeypatch.chdir(CORPUS)  # the working directory plays no part
    assert load_scenario(child).name == "climbed"


def test_extends_must_be_relative_and_a_yaml_file(tmp_path):
    base = (CORPUS / "_base.yaml").resolve()
    absolute = tmp_path / "abs.yaml"
    absolute.write_text(f"extends: {base}\n")
    with pytest.raises(
        ScenarioError, match="is absolute; give the path relative to this file's folder"
    ):
        load_scenario(absolute)
    for target in ("../../etc/passwd", "..", "notes.txt"):
        other = tmp_path / "other.yaml"
        other.write_text(f"extends: {target}\n")
        with pytest.raises(
            ScenarioError, match=r"is not a scenario file \(expected a .yaml or .yml file\)"
        ):
            load_scenario(other)
    missing = tmp_path / "missing.yaml"
    missing.write_text("extends: sub/gone.yaml\n")
    with pytest.raises(ScenarioError, match=r"extended file '.*sub/gone.yaml' not found"):
        load_scenario(missing)


@pytest.mark.parametrize("special", ["/dev/null", "/dev/zero"])
def test_a_device_is_not_read(special):
    if not Path(special).exists():
        pytest.skip(f"no {special}")
    with pytest.raises(FlowsimError, match="is not a regular file"):
        load_scenario(special)
    with pytest.raises(FlowsimError, match="is not a regular file"):
        load_observations(special, load_scenario(CORPUS / "_base.yaml"))

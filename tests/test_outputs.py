"""Where commands write: a marker, not a file name, says a folder is flowsim's; nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flowsim.inference.calibration
import flowsim.runner
from flowsim.cli import main

BAD = Path(__file__).parent / "bad_inputs"
BASE, OTHER, OBS = BAD / "_base.yaml", BAD / "_other.yaml", BAD / "_observations.csv"
RUN = ["-n", "1", "-j", "1", "-q", "--no-plot"]


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if a command starts simulating: its checks must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command ran before checking its output")

    monkeypatch.setattr(flowsim.runner, "run", refuse)
    monkeypatch.setattr(flowsim.inference.calibration, "calibrate", refuse)


def refused(argv: list[str], capsys) -> str:
    """The one line of a command that must exit with status 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("name", ["metadata.json", "comparison.csv", "scenarios/x/metadata.json"])
def test_a_users_folder_with_a_flowsim_file_name_is_not_replaced(tmp_path, capsys, no_run, name):
    folder = tmp_path / "mine"
    (folder / name).parent.mkdir(parents=True)
    (folder / name).write_text(json.dumps({"scenario": "small"}))
    (folder / "thesis.tex").write_text("precious\n")
    for argv in (["run", str(BASE), "--out", str(folder)],
                 ["compare", str(BASE), str(OTHER), "--out", str(folder)]):  # fmt: skip
        line = refused([*argv, "--force", "-q"], capsys)
        assert "not a flowsim result folder" in line
    assert (folder / "thesis.tex").read_text() == "precious\n"


def test_a_result_of_another_scenario_is_replaced_only_with_force(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(BASE), *RUN, "--out", str(out)]) == 0
    assert json.loads((out / "metadata.json").read_text())["flowsim"] == {"format": 1}
    line = refused(["run", str(OTHER), *RUN, "--out", str(out)], capsys)
    assert line == (
        f"flowsim: error: {out}: holds a result of small, not of other; "
        "choose another name or pass --force to replace it"
    )
    assert json.loads((out / "metadata.json").read_text())["scenario"] == "small"
    assert main(["run", str(BASE), *RUN, "--out", str(out)]) == 0  # the same scenario: replaced
    assert main(["run", str(OTHER), *RUN, "--out", str(out), "--force"]) == 0
    assert json.loads((out / "metadata.json").read_text())["scenario"] == "other"


def test_an_out_that_is_a_symlink_or_the_current_folder_is_refused_before_running(
    tmp_path, capsys, no_run, monkeypatch
):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    line = refused(["run", str(BASE), "--out", str(tmp_path / "link")], capsys)
    assert "is a symbolic link" in line
    monkeypatch.chdir(tmp_path / "real")
    for out in (".", "..", str(tmp_path / "real")):
        assert "is the current folder" in refused(["run", str(BASE), "--out", out], capsys)


def test_report_and_schema_overwrite_only_their_own_files(tmp_path, capsys):
    mine = tmp_path / "existing.csv"
    mine.write_text("my,data\n")
    result = tmp_path / "result"
    assert main(["run", str(BASE), *RUN, "--out", str(result)]) == 0
    line = refused(["report", str(result), "--out", str(mine)], capsys)
    assert line == (
        f"flowsim: error: {mine}: exists and was not written by flowsim; "
        "choose another name or pass --force to replace it"
    )
    line = refused(["report", str(result), "--out", str(result / "metadata.json")], capsys)
    assert "is inside an input of this command" in line
    line = refused(["schema", "--out", str(mine)], capsys)
    assert "not written by flowsim" in line
    assert mine.read_text() == "my,data\n"
    page, schema = tmp_path / "page.html", tmp_path / "schema.json"
    for argv in (["report", str(result), "--out", str(page)], ["schema", "--out", str(schema)]):
        assert main(argv) == 0 and main(argv) == 0  # its own file: replaced
    assert main(["schema", "--out", str(mine), "--force"]) == 0
    assert json.loads(mine.read_text())["title"] == "flowsim scenario"


def test_calibrate_never_overwrites_its_inputs_or_a_users_files(tmp_path, capsys, no_run):
    parent = tmp_path / "base.yaml"
    parent.write_text(BASE.read_text())
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("extends: base.yaml\nname: mine\n")
    before = scenario.read_text()
    cal = ["calibrate", str(scenario), "--observations", str(OBS), "--params", "hours_weight"]
    for fitted in (scenario, parent, OBS):
        line = refused([*cal, "--out", str(tmp_path / "cal"), "--fitted", str(fitted)], capsys)
        assert f"{fitted}: is an input of this command" in line
    users = tmp_path / "users"
    users.mkdir()
    (users / "fit.csv").write_text("my fit\n")
    line = refused([*cal, "--out", str(users)], capsys)
    assert "holds files flowsim did not write" in line
    assert scenario.read_text() == before and (users / "fit.csv").read_text() == "my fit\n"


def test_a_result_folder_holding_an_input_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(BASE), *RUN, "--out", str(out)]) == 0
    mine = out / "mine.yaml"
    mine.write_text((out / "scenario.resolved.yaml").read_text())
    obs = out / "obs.csv"
    obs.write_text(OBS.read_text())
    line = refused(["run", str(mine), *RUN, "--out", str(out)], capsys)
    assert line == (
        f"flowsim: error: {out}: holds an input of this command ({mine}), which replacing it "
        "would delete; choose another --out"
    )
    line = refused(["validate", str(BASE), "--observations", str(obs), *RUN[:-1],
                    "--out", str(out)], capsys)  # fmt: skip
    assert f"holds an input of this command ({obs})" in line
    assert mine.is_file() and obs.is_file()

"""A fresh clone stays clean after the quick start, and `make report` builds what it needs.

The make targets write untracked, ignored folders under ``results/``; the copies the
README shows live in the tracked ``results/published/``, refreshed by ``make publish``.
A result folder keeps its ``metadata.json``, so a rerun may replace it in one step.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_compare import BAN
from test_policies import two_borders
from test_provenance import SMALL, observations_csv

from flowsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
FLOWSIM = Path(sys.executable).parent / "flowsim"


def _git(*args: str, cwd: Path = ROOT) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")


def _make_outputs() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return sorted(set(re.findall(r"--out (results/[\w./-]+)", text)))


def test_no_make_target_writes_where_files_are_tracked():
    outputs = _make_outputs()
    assert {"results/historical_2022", "results/report.html"} <= set(outputs)
    for path in outputs:
        assert not _git("ls-files", path).split(), f"{path} holds tracked files"
    assert _git("check-ignore", *outputs).split() == outputs


def test_every_published_file_is_one_that_make_publish_copies():
    shown = subprocess.run(
        ["make", "-s", "--eval", "show-published: ; @echo $(PUBLISHED)", "show-published"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in _git("ls-files", "results/published").split():
        relative = name.removeprefix("results/published/")
        assert (
            relative in shown
            or relative == "README.md"
            or re.fullmatch(r"counterfactuals/scenarios/\w+/metadata.json", relative)
        ), name


@pytest.fixture
def clone(tmp_path):
    """A repository with this Makefile and .gitignore, a small scenario and observations."""
    for name in ("Makefile", ".gitignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(SMALL, tmp_path / "small.yaml")
    observations_csv(tmp_path)
    for name in ("pyproject.toml", "requirements.lock"):
        (tmp_path / name).write_text("")
    stamp = tmp_path / "installed"
    stamp.write_text("")
    os.utime(stamp, (2e9, 2e9))  # newer than what it is made from: make installs nothing
    _git("init", "-q", cwd=tmp_path)
    _git("add", "-A", cwd=tmp_path)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone", cwd=tmp_path)
    return tmp_path


def _make(clone: Path, *args: str) -> subprocess.CompletedProcess:
    variables = [f"FLOWSIM={FLOWSIM}", "STAMP=installed", "HISTORICAL=small.yaml"]
    variables += ["OBSERVATIONS=observations.csv"]
    # Not the settings of a make that runs these tests (make test ARGS=...).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(
        ["make", "--no-print-directory", *args, *variables],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )


def test_make_run_leaves_the_tree_clean(clone):
    _make(clone, "run", "ARGS=-n 1 -j 1 -q")
    written = {p.name for p in (clone / "results" / "historical_2022").iterdir()}
    assert {"daily_entries.png", "queues.png", "metadata.json", "daily.csv"} <= written
    assert _git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""


def test_make_report_on_a_fresh_clone_runs_the_fit_and_the_comparison_first(clone):
    fresh = _make(clone, "-n", "report").stdout
    assert "results/historical_2022_fit is missing, so make fit runs first" in fresh
    assert "results/counterfactuals is missing, so make compare runs first" in fresh
    order = [line.split()[1] for line in fresh.splitlines() if line.startswith(str(FLOWSIM))]
    assert order == ["validate", "compare", "report"]
    for name in ("results/historical_2022_fit/fit.csv", "results/counterfactuals/comparison.csv"):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text("")
    built = _make(clone, "-n", "report").stdout.splitlines()
    assert [line.split()[1] for line in built] == ["report"]


def _keep_only(folder: Path, keep: set[str]) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def test_run_and_compare_replace_a_folder_cut_down_to_its_committed_files(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(two_borders(informed_share=0.5)))
    ban = tmp_path / "ban.yaml"
    ban.write_text(yaml.safe_dump({"extends": "base.yaml", "name": "ban", "policies": BAN}))
    run = ["run", str(base), "-n", "1", "-j", "1", "-q", "--out", str(tmp_path / "run")]
    compare = ["compare", str(base), str(ban), "-n", "2", "-j", "1", "-q"]
    compare += ["--out", str(tmp_path / "cmp")]
    committed = {
        "run": {"daily_entries.png", "metadata.json"},
        "cmp": {"headline.csv", "differences.png", "scenarios/single/metadata.json"},
    }
    for argv, folder in ((run, "run"), (compare, "cmp")):
        assert main(argv) == 0
        _keep_only(tmp_path / folder, committed[folder])
        assert main(argv) == 0
        written = "daily.csv" if folder == "run" else "comparison.csv"
        assert (tmp_path / folder / written).is_file()
    # A folder with other files is still refused.
    _keep_only(tmp_path / "run", {"daily_entries.png"})
    assert main(run) == 2

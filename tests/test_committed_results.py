"""The figures committed under results/ must not stop the make targets that regenerate them.

A fresh clone holds only a few files of each result folder (a figure, a table and the
metadata that says how they were made). `flowsim` refuses to replace a folder it did not
write, so each committed folder must still read as flowsim's own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_compare import BAN
from test_policies import two_borders

from flowsim.cli import main
from flowsim.outputs import written_by_flowsim

ROOT = Path(__file__).resolve().parents[1]


def _tracked(folder: str) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return out.split()


def _make_outputs() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return sorted(set(re.findall(r"--out ((?:results|calibration)/[\w-]+)", text)))


def test_every_make_target_writes_to_a_folder_that_reads_as_flowsims(tmp_path):
    outputs = _make_outputs()
    assert "results/historical_2022" in outputs  # `make run`, the quick start
    for folder in outputs:
        files = _tracked(folder)
        if not files:
            continue  # nothing committed: the target writes a new folder
        for name in files:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tmp_path / name)
        assert written_by_flowsim(tmp_path / folder), (
            f"{folder}: its committed files do not read as a flowsim result"
        )


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

"""Faults: a killed run leaves a complete result or none; a full or read-only disk is one clear line."""

from __future__ import annotations

import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import flowsim.atomic
from flowsim.cli import main

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
RESULT_FILES = ("daily.csv", "daily_by_replication.csv", "hourly_queue.csv", "hourly.npz", "stage_stats.csv",
                "conservation.csv", "scenario.resolved.yaml", "metadata.json", "daily_entries.png")


def _start(out: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flowsim.cli", "run", str(SMALL), "-n", "3", "-j", str(workers), "-q",
         "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _complete_or_absent(out: Path) -> bool:
    """True if the result is complete, False if absent; fails the test if half-written."""
    if not out.exists():
        return False
    assert sorted(p.name for p in out.iterdir() if p.name in RESULT_FILES) == sorted(RESULT_FILES)
    assert json.loads((out / "metadata.json").read_text())["replications"] == 3
    assert len(pd.read_csv(out / "daily.csv")) > 0
    return True


# Delays spread over the whole run (about 2-4 s): before, during and after the replications.
@pytest.mark.parametrize("delay", [0.2, 0.9, 1.6, 2.4, 3.5])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_killed_run_leaves_a_complete_result_or_none(tmp_path, delay, sig):
    out = tmp_path / "run"
    proc = _start(out, workers=1)
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    finished = _complete_or_absent(out)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "run"]
    if sig == signal.SIGINT:
        assert leftovers == []
        if proc.returncode == 130:
            assert not finished and err.strip().splitlines()[-1] == "flowsim: interrupted; no results were written"
        else:
            assert proc.returncode == 0 and finished  # the signal came after the rename
    else:
        # Only a hidden temporary folder may be left, never under the requested name.
        assert all(name.startswith(".run.tmp-") for name in leftovers)


def test_an_interrupted_parallel_run_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, workers=2)
    time.sleep(1.2)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert not _complete_or_absent(out) or proc.returncode == 0
    assert [p.name for p in tmp_path.iterdir() if p.name != "run"] == []


@pytest.mark.parametrize(("code", "reason"), [(errno.ENOSPC, "no space left on device"),
                                              (errno.EROFS, "read-only file system"),
                                              (errno.EACCES, "permission denied")])
def test_a_full_or_read_only_disk_is_one_clear_line(tmp_path, capsys, monkeypatch, code, reason):
    def fail(_folder):
        raise OSError(code, "simulated")

    monkeypatch.setattr(flowsim.atomic, "_fsync_tree", fail)
    out = tmp_path / "run"
    assert main(["run", str(SMALL), "-n", "1", "-j", "1", "-q", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"flowsim: error: {out}: cannot write results ({reason})"]
    assert list(tmp_path.iterdir()) == []

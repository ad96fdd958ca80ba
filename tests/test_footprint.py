"""A run that cannot fit in memory is refused before its first replication."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest

import flowsim
import flowsim.footprint
import flowsim.runner
from flowsim.cli import main
from flowsim.footprint import replication_bytes, replication_seconds

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


def test_a_billion_replications_are_refused_at_once(tmp_path, capsys, monkeypatch):
    def simulate(*args):
        raise AssertionError("a replication started")

    monkeypatch.setattr(flowsim.runner, "simulate", simulate)
    out = tmp_path / "run"
    for command in ("run", "validate"):
        argv = [command, str(SMALL), "-n", "1000000000", "-q", "--out", str(out)]
        if command == "validate":
            argv += ["--observations", str(Path(__file__).parent / "bad_inputs/_observations.csv")]
        tracemalloc.start()
        assert main(argv) == 2
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 100e6, f"{peak / 1e9:.1f} GB allocated before the refusal"  # not one per run
        err = capsys.readouterr().err
        assert re.fullmatch(
            r"flowsim: error: --replications: 1,000,000,000 replications need about \S+ TB of "
            r"memory \(\S+ [kMG]B each\), more than the \S+ [kMGT]B available; run fewer "
            r"\(or pass --force to try anyway\)\n",
            err,
        ), err
    assert not out.exists()


def test_the_estimate_is_in_the_progress_bar_and_force_overrides_it(tmp_path, monkeypatch):
    monkeypatch.setattr(flowsim.footprint, "available_bytes", lambda: 1000)
    labels = []
    original = flowsim.runner.map_replications

    def recording(fn, tasks, workers, executor=None, progress=True, label=""):
        labels.append(label)
        return original(fn, tasks, workers, executor, progress, label)

    monkeypatch.setattr(flowsim.runner, "map_replications", recording)
    argv = [
        "run",
        str(SMALL),
        "-n",
        "2",
        "-j",
        "1",
        "-q",
        "--no-plot",
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(argv) == 2 and not labels
    assert main([*argv, "--force"]) == 0
    scenario = flowsim.load_scenario(SMALL)
    size = flowsim.footprint.size_text(2 * replication_bytes(scenario))
    seconds = flowsim.footprint.duration_text(2 * replication_seconds(scenario))
    assert labels == [f"replications (~{size}, ~{seconds})"]


@pytest.mark.parametrize(("n_bytes", "text"), [(999, "1 kB"), (1.5e6, "1.5 MB"), (2e12, "2 TB")])
def test_sizes_read_as_a_person_would_write_them(n_bytes, text):
    assert flowsim.footprint.size_text(n_bytes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1 s"), (40, "40 s"), (300, "5 min"), (9000, "2.5 h"), (4e5, "4.6 days")],
)
def test_durations_read_as_a_person_would_write_them(seconds, text):
    assert flowsim.footprint.duration_text(seconds) == text


def test_the_events_behind_the_time_estimate_are_within_a_factor_of_three_of_a_run():
    scenario = flowsim.load_scenario(SMALL)
    result = flowsim.run(scenario, replications=1, workers=1, progress=False)
    events = result.metadata.events
    assert (
        events / 3
        < replication_seconds(scenario) * flowsim.footprint.EVENTS_PER_SECOND
        < 3 * events
    )


def test_a_calibration_that_cannot_fit_is_refused_at_once(tmp_path, capsys):
    obs = Path(__file__).parent / "bad_inputs" / "_observations.csv"
    argv = ["calibrate", str(SMALL), "--observations", str(obs), "--params", "hours_weight",
            "-n", "1000000000", "-q", "--out", str(tmp_path / "cal")]  # fmt: skip
    assert main(argv) == 2
    assert "1,000,000,000 replications need about" in capsys.readouterr().err
    assert not (tmp_path / "cal" / "evaluations.jsonl").exists()

"""What a result records about how it was made, and that the same command gives the same bytes."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path

import pytest

from flowsim.cli import main
from flowsim.results import TIMING_FIELDS, read_result

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


def observations_csv(folder: Path) -> Path:
    from flowsim.inference.observations import COLUMNS

    path = folder / "observations.csv"
    path.write_text(
        ",".join(COLUMNS)
        + "\nd,Southland,,entries,2022-09-02T00:00:00+03:00,2022-09-03T00:00:00+03:00,"
        "1000,,,test,\"'about 1,000' on the day\"\n"
    )
    return path


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("provenance")
    obs = observations_csv(folder)
    argv = ["validate", str(SMALL), "--observations", str(obs), "-n", "2", "-j", "1", "-q"]
    argv += ["--set", "policies.north_ban=null", "--set", "demand.choice.hours_weight=0.2"]
    argv += ["--out", str(folder / "out")]
    assert main(argv) == 0
    return argv, obs, folder / "out"


def test_metadata_records_the_command_overrides_observations_and_pool(validated):
    argv, obs, out = validated
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["command"] == shlex.join(["flowsim", *argv])
    assert meta["overrides"] == ["policies.north_ban=null", "demand.choice.hours_weight=0.2"]
    assert meta["observations"] == {
        "path": str(obs),
        "sha256": hashlib.sha256(obs.read_bytes()).hexdigest(),
    }
    assert meta["workers"] == 1 and meta["scheduler"] is None
    assert read_result(out).metadata.overrides == tuple(meta["overrides"])


def test_the_pool_size_recorded_is_the_one_used(tmp_path):
    import flowsim

    result = flowsim.run(SMALL, replications=2, workers=2, progress=False)
    assert result.metadata.workers == 2 and result.metadata.scheduler is None
    assert flowsim.run(SMALL, replications=1, workers=2, progress=False).metadata.workers == 1


def test_the_api_records_overrides_it_applied():
    import flowsim

    result = flowsim.run(
        SMALL, replications=1, workers=1, progress=False, overrides=["policies.north_ban=null"]
    )
    assert result.metadata.overrides == ("policies.north_ban=null",)
    assert "north_ban" not in result.scenario.policies


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_the_same_command_gives_the_same_bytes_but_for_the_timing_fields(tmp_path):
    out = tmp_path / "out"
    argv = ["run", str(SMALL), "-n", "2", "-j", "1", "-q", "--trace", "--out", str(out)]
    assert main(argv) == 0
    shutil.copytree(out, tmp_path / "first")
    assert main(argv) == 0
    first, second = _files(tmp_path / "first"), _files(out)
    assert {"daily_entries.svg", "daily_entries.png", "trace.csv.gz", "hourly.npz"} <= set(first)
    assert set(first) == set(second)
    differ = sorted(name for name in first if first[name] != second[name])
    assert differ == ["metadata.json"]
    a, b = (json.loads(f["metadata.json"]) for f in (first, second))
    assert {k for k in a if a[k] != b[k]} <= set(TIMING_FIELDS)


def test_a_run_without_figures_never_imports_matplotlib(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys\nfrom flowsim.cli import main\n"
        f"code = main(['run', {str(SMALL)!r}, '-n', '1', '-j', '1', '-q', '--no-plot', "
        f"'--out', {str(tmp_path / 'r')!r}])\n"
        "print(code, any(m.startswith('matplotlib') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "0 False", done.stderr


@pytest.mark.parametrize(
    ("given", "expected"),
    [({}, "1"), ({"OPENBLAS_NUM_THREADS": "3"}, "3"), ({"OMP_NUM_THREADS": "2"}, None)],
)
def test_the_command_runs_blas_on_one_thread_unless_told_otherwise(given, expected):
    """Replications run in parallel as processes: a BLAS pool per process would only spin.

    A user who set any of BLAS's thread variables keeps them all as they were.
    """
    import os
    import subprocess
    import sys

    from flowsim.cli import BLAS_THREADS

    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREADS} | given
    script = (
        "import os\nfrom flowsim.cli import main\n"
        f"code = main(['check', {str(SMALL)!r}])\n"
        "print(code, os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.stdout.splitlines()[-1] == f"0 {expected}", done.stderr


@pytest.mark.parametrize("collecting", [True, False])
def test_the_collector_is_as_it_was_after_the_imports(collecting):
    import argparse
    import gc

    from flowsim.cli import _import_libraries

    (gc.enable if collecting else gc.disable)()
    try:
        _import_libraries(argparse.Namespace(command="check"))
        assert gc.isenabled() is collecting
    finally:
        gc.enable()


def test_the_tables_are_written_as_pandas_writes_them(tmp_path):
    import flowsim
    from flowsim.results import write_csv

    result = flowsim.run(SMALL, replications=2, workers=1, progress=False)
    for frame in (result.daily, result.by_replication, result.hourly_queue, result.conservation):
        write_csv(frame, tmp_path / "fast.csv")
        assert (tmp_path / "fast.csv").read_text() == frame.to_csv(index=False)

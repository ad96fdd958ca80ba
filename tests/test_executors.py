"""Where replications run does not change what they give: -j 1 and -j 2 of every command agree."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
import yaml
from test_calibration import scenario_file, truth_observations
from test_compare import BAN
from test_policies import two_borders

from flowsim.cli import main
from flowsim.errors import RunError
from flowsim.executors import SerialExecutor, open_executor
from flowsim.runner import map_replications


def _with_workers(argv, out, workers):
    return main([*argv, "-j", str(workers), "-q", "--out", str(out)])


def _two_borders_file(tmp_path, **kwargs):
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(two_borders(informed_share=0.5, **kwargs)))
    return path


def test_run_is_the_same_with_one_worker_and_two(tmp_path):
    argv = ["run", str(_two_borders_file(tmp_path)), "-n", "3", "--seed", "5", "--no-plot"]
    assert _with_workers(argv, tmp_path / "one", 1) == 0
    assert _with_workers(argv, tmp_path / "two", 2) == 0
    for name in ("daily.csv", "daily_by_replication.csv", "hourly_queue.csv", "conservation.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "one" / name), pd.read_csv(tmp_path / "two" / name)
        )


def test_compare_is_the_same_with_one_worker_and_two(tmp_path):
    base = _two_borders_file(tmp_path)
    (tmp_path / "ban.yaml").write_text(
        yaml.safe_dump({"extends": "base.yaml", "name": "ban", "policies": BAN})
    )
    argv = ["compare", str(base), str(tmp_path / "ban.yaml"), "-n", "3", "--seed", "5"]
    assert _with_workers(argv, tmp_path / "one", 1) == 0
    assert _with_workers(argv, tmp_path / "two", 2) == 0
    for name in ("comparison.csv", "headline.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "one" / name), pd.read_csv(tmp_path / "two" / name)
        )


@pytest.mark.slow
def test_validate_and_calibrate_are_the_same_with_one_worker_and_two(tmp_path):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    validate = ["validate", str(path), "--observations", str(csv), "-n", "3", "--seed", "7"]
    assert _with_workers(validate, tmp_path / "v1", 1) == 0
    assert _with_workers(validate, tmp_path / "v2", 2) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "v1" / "fit.csv"), pd.read_csv(tmp_path / "v2" / "fit.csv")
    )
    calibrate = [
        "calibrate",
        str(path),
        "--observations",
        str(csv),
        "-n",
        "2",
        "--seed",
        "7",
        "--budget",
        "8",
        "--pilot-replications",
        "3",
        "--validation-replications",
        "2",
    ]
    assert _with_workers(calibrate, tmp_path / "c1", 1) == 0
    assert _with_workers(calibrate, tmp_path / "c2", 2) == 0
    # Every evaluation, in the same order, with the same loss and simulated figures.
    assert (tmp_path / "c1" / "evaluations.jsonl").read_text() == (
        tmp_path / "c2" / "evaluations.jsonl"
    ).read_text()
    fitted = [(tmp_path / c / "fitted.yaml").read_text().splitlines() for c in ("c1", "c2")]
    assert [line for line in fitted[0] if "-j" not in line] == [
        line for line in fitted[1] if "-j" not in line
    ]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "c1" / "fit.csv"), pd.read_csv(tmp_path / "c2" / "fit.csv")
    )


def test_one_worker_runs_in_this_process():
    with open_executor(1) as executor:
        assert isinstance(executor, SerialExecutor)
        assert executor.submit(divmod, 7, 2).result() == (3, 1)
        with pytest.raises(ZeroDivisionError):
            executor.submit(divmod, 1, 0).result()


def test_an_executor_of_the_caller_is_used_and_left_open():
    with ThreadPoolExecutor(2) as mine:
        with open_executor(4, executor=mine) as executor:
            assert executor is mine
        assert mine.submit(abs, -1).result() == 1  # not shut down
        with (
            pytest.raises(RunError, match="not both"),
            open_executor(executor=mine, scheduler="tcp://h:8786"),
        ):
            pass


def test_outputs_come_in_the_order_of_the_tasks_and_a_failure_cancels_the_rest():
    tasks = [(i,) for i in range(8)]
    with ThreadPoolExecutor(3) as pool:
        assert map_replications(lambda i: i * i, tasks, 3, pool, progress=False) == [
            i * i for i in range(8)
        ]
    ran = []

    def fail_first(i):
        ran.append(i)
        if i == 0:
            raise ValueError("boom")
        time.sleep(0.2)
        return i

    with ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="boom"):
        map_replications(fail_first, tasks, 1, pool, progress=False)
    assert ran in ([0], [0, 1])  # the tasks queued behind the failure never ran


def test_scheduler_without_dask_installed_is_one_line_saying_how_to_install_it(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    code = main(
        [
            "run",
            str(_two_borders_file(tmp_path)),
            "-n",
            "1",
            "-q",
            "--scheduler",
            "tcp://127.0.0.1:8786",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "needs Dask" in err[0] and "pip install 'flowsim[dask]'" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["run", "validate", "calibrate", "compare"])
def test_every_command_takes_workers_and_scheduler(command):
    from flowsim.cli import build_parser

    extra = {
        "run": [],
        "validate": ["--observations", "o.csv"],
        "calibrate": ["--observations", "o.csv", "-o", "x"],
        "compare": ["other.yaml", "-o", "x"],
    }[command]
    args = build_parser().parse_args(
        [command, "s.yaml", *extra, "-j", "3", "--scheduler", "tcp://10.0.0.5:8786"]
    )
    assert args.workers == 3 and args.scheduler == "tcp://10.0.0.5:8786"

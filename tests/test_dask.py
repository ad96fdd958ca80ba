"""Replications and calibration evaluations on a Dask cluster give the local results exactly.

The cluster is a `distributed.LocalCluster` of two single-threaded worker processes on
loopback, shared by the module. A worker that dies is simulated deterministically: the
chosen task creates a marker file and calls ``os._exit`` the first time it starts, so
its rerun (on the restarted or the other worker) finds the marker and runs normally.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor

import pandas as pd
import pytest
import yaml
from builders import build
from test_calibration import scenario_file, truth_observations
from test_compare import BAN
from test_policies import two_borders

import flowsim
from flowsim.cli import main
from flowsim.executors import open_executor
from flowsim.inference.calibration import calibrate
from flowsim.inference.observations import load_observations

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    """A cluster of two worker processes on loopback."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address
        # Closing while a nanny restarts a worker killed by a test fails inside Dask.
        with distributed.Client(cluster, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)


def fail_first_time(how: str):
    """A wrapper that fails a call the first time it runs anywhere (marker file), then runs it."""

    # Defined here, not at module level, so that cloudpickle ships it to the workers by value.
    def call(marker, fn, *args):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return fn(*args)
        if how == "exit":
            os._exit(1)  # the worker process dies mid-task, as with the OOM killer
        raise OSError("a transient failure")

    return call


class FailsOnce(Executor):
    """Submits to `inner`; the `at`-th submission fails the first time it runs."""

    def __init__(self, inner: Executor, marker, how: str, at: int = 0) -> None:
        self.inner, self.marker, self.call, self.at = inner, str(marker), fail_first_time(how), at
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        if self.submitted - 1 == self.at:
            return self.inner.submit(self.call, self.marker, fn, *args)
        return self.inner.submit(fn, *args)


def test_compare_through_dask_equals_the_local_run(tmp_path, scheduler):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(two_borders(informed_share=0.5)))
    ban = tmp_path / "ban.yaml"
    ban.write_text(yaml.safe_dump({"extends": "base.yaml", "name": "ban", "policies": BAN}))
    common = ["compare", str(base), str(ban), "-n", "4", "--seed", "3", "-q"]
    assert main([*common, "-j", "1", "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--scheduler", scheduler, "--out", str(tmp_path / "dask")]) == 0
    for name in ("comparison.csv", "headline.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "local" / name), pd.read_csv(tmp_path / "dask" / name)
        )


@pytest.mark.slow
def test_calibrate_through_dask_equals_the_local_run(tmp_path, scheduler):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    common = [
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
        "-q",
    ]
    assert main([*common, "-j", "2", "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--scheduler", scheduler, "--out", str(tmp_path / "dask")]) == 0
    assert (tmp_path / "local" / "evaluations.jsonl").read_text() == (
        tmp_path / "dask" / "evaluations.jsonl"
    ).read_text()
    fitted = [
        (tmp_path / out / "fitted.yaml").read_text().splitlines() for out in ("local", "dask")
    ]
    assert fitted[0][2:] == fitted[1][2:]  # all but the command line
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "local" / "fit.csv"), pd.read_csv(tmp_path / "dask" / "fit.csv")
    )


def test_validate_through_dask_equals_the_local_run(tmp_path, scheduler):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    common = ["validate", str(path), "--observations", str(csv), "-n", "3", "--seed", "7", "-q"]
    assert main([*common, "-j", "1", "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--scheduler", scheduler, "--out", str(tmp_path / "dask")]) == 0
    for name in ("fit.csv", "daily.csv", "daily_by_replication.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "local" / name), pd.read_csv(tmp_path / "dask" / name)
        )


def test_the_python_api_takes_a_scheduler(scheduler):
    scenario = build(two_borders(informed_share=0.5))
    local = flowsim.run(scenario, replications=3, seed=3, workers=1, progress=False)
    remote = flowsim.run(scenario, replications=3, seed=3, scheduler=scheduler, progress=False)
    pd.testing.assert_frame_equal(local.daily, remote.daily)
    pd.testing.assert_frame_equal(local.by_replication, remote.by_replication)
    # The metadata names the cluster that ran it and its size, not a local pool.
    assert remote.metadata.scheduler == scheduler and remote.metadata.workers == 2


@pytest.mark.parametrize("how", ["exit", "raise"])
def test_a_replication_whose_worker_dies_or_that_fails_once_is_rerun(tmp_path, scheduler, how):
    """Dask reruns the task of a dead worker (allowed-failures) or one that raised (retries)."""
    scenario = build(two_borders(informed_share=0.5))
    local = flowsim.run(scenario, replications=4, seed=3, workers=1, progress=False)
    marker = tmp_path / "failed"
    with (
        distributed.Client(scheduler, set_as_default=False) as client,
        open_executor(scheduler=scheduler) as dask,
    ):
        client.wait_for_workers(2, timeout=60)  # e.g. after a restart caused by an earlier test
        before = set(client.scheduler_info()["workers"])
        remote = flowsim.run(
            scenario,
            replications=4,
            seed=3,
            executor=FailsOnce(dask, marker, how, at=1),
            progress=False,
        )
        after = set(client.scheduler_info()["workers"])
    assert marker.exists()  # the second replication did fail once
    assert bool(before - after) == (
        how == "exit"
    )  # a dead worker has left (a restart has a new address)
    pd.testing.assert_frame_equal(local.daily, remote.daily)
    pd.testing.assert_frame_equal(local.by_replication, remote.by_replication)


@pytest.mark.slow
def test_a_calibration_goes_on_through_a_dying_worker_and_loses_nothing(tmp_path, scheduler):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    observations = load_observations(csv, flowsim.load_scenario(path))
    kwargs = {"replications": 2, "seed": 7, "budget": 6, "pilot_replications": 3}
    local = calibrate(str(path), observations, workers=1, out_dir=tmp_path / "local", **kwargs)
    with open_executor(scheduler=scheduler) as dask:
        # The 8th replication is in the third evaluation: two are already in the log.
        dying = FailsOnce(dask, tmp_path / "died", "exit", at=7)
        remote = calibrate(
            str(path), observations, executor=dying, out_dir=tmp_path / "dask", **kwargs
        )
    assert (tmp_path / "died").exists() and dying.submitted > 8
    assert remote.fitted_values == local.fitted_values
    assert (tmp_path / "local" / "evaluations.jsonl").read_text() == (
        tmp_path / "dask" / "evaluations.jsonl"
    ).read_text()


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("flowsim.executors.CONNECT_TIMEOUT", 1.0)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(two_borders()))
    code = main(
        [
            "run",
            str(scenario),
            "-n",
            "1",
            "-q",
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        code == 2
        and len(err) == 1
        and "cannot reach the Dask scheduler 'tcp://127.0.0.1:9'" in err[0]
    )
    assert not (tmp_path / "out").exists()


def test_a_server_that_accepts_but_is_not_dask_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    """Dask's connect would wait for its handshake forever (a dashboard port, say)."""
    import socket

    monkeypatch.setattr("flowsim.executors.CONNECT_TIMEOUT", 1.0)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(two_borders()))
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        code = main(
            [
                "run",
                str(scenario),
                "-n",
                "1",
                "-q",
                "--scheduler",
                f"tcp://127.0.0.1:{port}",
                "--out",
                str(tmp_path / "out"),
            ]
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        code == 2
        and len(err) == 1
        and "cannot reach the Dask scheduler" in err[0]
        and "8786" in err[0]
    )


def test_workers_with_another_flowsim_version_are_refused(tmp_path, capsys, monkeypatch, scheduler):
    monkeypatch.setattr(flowsim, "__version__", "0.0.0-client")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(two_borders()))
    code = main(
        [
            "run",
            str(scenario),
            "-n",
            "1",
            "-q",
            "--scheduler",
            scheduler,
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "has flowsim" in err[0] and "this is 0.0.0-client" in err[0]


def test_a_task_that_kills_every_worker_it_runs_on_is_a_one_line_error(scheduler):
    from flowsim.errors import RunError

    def always_exit():
        os._exit(1)

    with (
        pytest.raises(RunError, match=r"killed the Dask worker running it \d+ times"),
        open_executor(scheduler=scheduler) as dask,
    ):
        dask.submit(always_exit).result()

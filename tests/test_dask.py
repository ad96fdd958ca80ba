"""Replications and calibration evaluations on a Dask cluster give the local results exactly."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from test_calibration import scenario_file, truth_observations
from test_compare import BAN
from test_policies import two_borders

from flowsim.cli import main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    """A cluster of two worker processes on loopback."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_compare_through_dask_equals_the_local_run(tmp_path, scheduler):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(two_borders(informed_share=0.5)))
    ban = tmp_path / "ban.yaml"
    ban.write_text(yaml.safe_dump({"extends": "base.yaml", "name": "ban", "policies": BAN}))
    common = ["compare", str(base), str(ban), "-n", "4", "--seed", "3", "-q"]
    assert main([*common, "-j", "1", "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--scheduler", scheduler, "--out", str(tmp_path / "dask")]) == 0
    local = pd.read_csv(tmp_path / "local" / "comparison.csv")
    remote = pd.read_csv(tmp_path / "dask" / "comparison.csv")
    pd.testing.assert_frame_equal(local, remote)


def test_calibrate_through_dask_equals_the_local_run(tmp_path, scheduler):
    path = scenario_file(tmp_path)
    csv = truth_observations(path, tmp_path)
    common = ["calibrate", str(path), "--observations", str(csv), "-n", "2", "--seed", "7", "--budget", "8",
              "--pilot-replications", "3", "--validation-replications", "2", "-q"]
    assert main([*common, "-j", "2", "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--scheduler", scheduler, "--out", str(tmp_path / "dask")]) == 0
    assert (tmp_path / "local" / "fitted.yaml").read_text().split("\n", 3)[3] == (
        tmp_path / "dask" / "fitted.yaml").read_text().split("\n", 3)[3]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local" / "fit.csv"),
                                  pd.read_csv(tmp_path / "dask" / "fit.csv"))


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(two_borders()))
    code = main(["run", str(scenario), "-n", "1", "-q", "--scheduler", "tcp://127.0.0.1:9", "--out",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot reach the Dask scheduler" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_worker_killed_mid_run_loses_nothing(tmp_path):
    """Dask reruns the replications of a dead worker; the result is still the local one."""
    import os
    import signal
    import threading
    import time

    import flowsim
    from builders import build
    from flowsim.executors import dask_executor

    data = two_borders(informed_share=0.5)
    data["horizon"]["end"] = "2022-12-30T00:00:00+03:00"  # about half a second per replication
    scenario = build(data)
    local = flowsim.run(scenario, replications=6, seed=3, workers=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        nanny = next(iter(cluster.workers.values()))
        victim = nanny.process.process.pid

        killed_at = []

        def kill_one_worker():
            time.sleep(1.0)  # replications are running on both workers by then
            os.kill(victim, signal.SIGKILL)
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_one_worker)
        with dask_executor(cluster.scheduler_address) as executor:
            killer.start()
            remote = flowsim.run(scenario, replications=6, seed=3, executor=executor, progress=False)
            finished_at = time.monotonic()
        killer.join()
    assert killed_at and killed_at[0] < finished_at  # the worker died while the run was going on
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)  # the worker did die
    pd.testing.assert_frame_equal(local.daily, remote.daily)

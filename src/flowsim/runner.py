"""Running a scenario: the replication loop, progress and provenance.

The replications are submitted to an executor from `flowsim.executors` (this process, a
local process pool or a Dask cluster). Replication ``r`` of a run with seed ``s`` draws
every random number from streams keyed by ``(s, r, name)``, so results do not depend on
the number of workers, on which worker ran which replication, or on how often it ran.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path

from tqdm import tqdm

from flowsim import __version__
from flowsim.engine.model import Aggregates
from flowsim.engine.select import model_class
from flowsim.errors import RunError
from flowsim.executors import describe, open_executor, pool_size
from flowsim.footprint import check_memory, duration_text, replication_seconds, size_text
from flowsim.parameter_draws import posterior_record, replication_values, with_values
from flowsim.policies import install_all
from flowsim.results import RunMetadata, RunResult, build_result
from flowsim.scenario import Scenario, load_scenario


def simulate(
    scenario: Scenario,
    seed: int,
    replication: int,
    trace: bool = False,
    values: dict[str, float] | None = None,
    engine: str | None = None,
) -> Aggregates:
    """Build, install the policies of, and run one replication (with parameter `values`).

    `engine` is ``"compiled"`` or ``"reference"`` (`flowsim.engine.select`); both give
    the same outputs.
    """
    scenario = with_values(scenario, values)
    model = model_class(engine, trace)(scenario, seed, replication, trace=trace)
    try:
        install_all(scenario, model)
        return model.run()
    finally:
        model.discard()


def git_commit() -> str:
    """Commit of the flowsim source tree, with ``+dirty`` for uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def map_replications(
    fn: Callable[..., Aggregates],
    tasks: list[tuple],
    workers: int,
    executor: Executor | None = None,
    progress: bool = True,
    label: str = "replications",
    delay: float = 2.0,
) -> list[Aggregates]:
    """Run ``fn(*task)`` for every task and return the outputs in the order of the tasks.

    The tasks go to `executor`, or else to a pool of `workers` opened for them (see
    `flowsim.executors.open_executor`). The first task to fail cancels those not started.
    The progress bar, labelled `label`, shows from the first task done after `delay` seconds.
    """
    bar = tqdm(
        total=len(tasks), desc=label, unit="rep", file=sys.stderr, delay=delay, disable=not progress
    )
    try:
        with open_executor(workers, executor=executor) as pool:
            futures = []
            try:
                for task in tasks:
                    future = pool.submit(fn, *task)
                    future.add_done_callback(lambda _f: bar.update())
                    futures.append(future)
                return [f.result() for f in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        bar.close()


def run(
    scenario: Scenario | str | Path,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    trace: bool = False,
    overrides: Iterable[str] = (),
    progress: bool = True,
    executor: Executor | None = None,
    scheduler: str | None = None,
    force: bool = False,
    label: str = "replications",
    parameters: str = "posterior",
) -> RunResult:
    """Run a scenario and reduce its replications.

    Parameters
    ----------
    scenario
        A `Scenario`, or the path of a scenario YAML file.
    replications, seed
        Default to the scenario's own.
    workers
        Processes for the replications (default: the machine's cores).
    trace
        Keep one row per party outcome (memory grows with the travellers).
    overrides
        ``"path.to.field=value"`` strings applied to a scenario file (and recorded in the
        metadata; a `Scenario` given as an object keeps no record of how it was loaded).
    executor, scheduler
        A `concurrent.futures.Executor` (left open), or the address of a Dask scheduler
        (e.g. ``tcp://10.0.0.5:8786``), to run the replications instead of a local pool.
    force
        Run even when the results are estimated not to fit in memory (`check_memory`).
    label
        What the progress bar says it counts (e.g. the scenario's name).
    parameters
        ``"posterior"``: replication r takes draw r of the scenario's posterior, if it names
        one (`flowsim.parameter_draws`); ``"point"``: the scenario's own values.
    """
    applied: tuple[str, ...] = ()
    if not isinstance(scenario, Scenario):
        applied = tuple(overrides)
        scenario = load_scenario(scenario, applied)
    n = scenario.replications if replications is None else replications
    s = scenario.seed if seed is None else seed
    if n < 1:
        raise RunError("must be at least 1", field_path="--replications")
    if s < 0:
        raise RunError("must be non-negative", field_path="--seed")
    needed = check_memory(scenario, n, force)  # before anything of size n is built
    values = replication_values(scenario, n, parameters)
    n_workers = pool_size(workers, n)
    started = time.perf_counter()
    with open_executor(n_workers, scheduler, executor=executor) as pool:
        tasks = [(scenario, s, r, trace, values[r]) for r in range(n)]
        rounds = -(-n // n_workers)
        duration = duration_text(rounds * replication_seconds(scenario))
        label = f"{label} (~{size_text(needed)}, ~{duration})"
        outputs = map_replications(simulate, tasks, n_workers, pool, progress, label)
        ran_on, address = describe(pool)
    wall = time.perf_counter() - started
    events = sum(o.events for o in outputs)
    metadata = RunMetadata(
        scenario=scenario.name,
        seed=s,
        replications=n,
        workers=ran_on or n_workers,
        version=__version__,
        git_commit=git_commit(),
        wall_seconds=round(wall, 3),
        events=events,
        events_per_second=round(events / wall, 1) if wall > 0 else 0.0,
        created_utc=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        python=platform.python_version(),
        overrides=applied,
        scheduler=address,
        parameters="posterior" if values[0] is not None else "point",
        posterior=posterior_record(scenario) if values[0] is not None else None,
    )
    return build_result(scenario, outputs, metadata, trace=trace)

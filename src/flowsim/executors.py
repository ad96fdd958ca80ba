"""Where replications and calibration evaluations run: this process, a local pool or a Dask cluster.

Every command runs its replications through `flowsim.runner.map_replications`, which
submits them to a `concurrent.futures.Executor` opened here by `open_executor`: one
worker runs them in this process, more run them in a local process pool, and a
scheduler address hands out the executor of a Dask distributed client. Replication ``r``
draws from streams keyed by the run seed and ``r``, so its result does not depend on
where it runs, and a replication lost with a dying worker can simply be run again: the
scheduler reruns it on another worker (up to its ``allowed-failures``, 3 by default), and
a replication that raises is retried ``RETRIES`` times.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

from flowsim.errors import RunError

#: Seconds to wait for a scheduler to answer.
CONNECT_TIMEOUT = 5.0
#: Times Dask reruns a replication that raised (after a dead worker: the scheduler's
#: ``allowed-failures``).
RETRIES = 3
#: Seconds between a pool worker's checks that the process that started it still runs.
PARENT_CHECK_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1
#: How to get Dask, in the error raised without it.
INSTALL_HINT = "pip install 'flowsim[dask]'"

T = TypeVar("T")


def default_workers() -> int:
    """The machine's cores available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def pool_size(workers: int | None, tasks: int) -> int:
    """Processes to start for `tasks` tasks: `workers` (default: the cores), but at most `tasks`."""
    return min(default_workers() if workers is None else workers, tasks)


class SerialExecutor(Executor):
    """Runs each call at once, in this process: one worker, nothing pickled."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Call ``fn(*args, **kwargs)`` now and return its finished future."""
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered by future.result(), as a pool would
            future.set_exception(exc)
        return future


def describe(executor: Executor) -> tuple[int | None, str | None]:
    """(worker processes, Dask scheduler address or None) of an executor: what ran the work."""
    client = getattr(executor, "_client", None)  # a Dask ClientExecutor
    if client is not None:
        return len(client.nthreads()), str(client.scheduler.address)
    if isinstance(executor, SerialExecutor):
        return 1, None
    return getattr(executor, "_max_workers", None), None


def _init_worker(parent: int) -> None:
    """Pool workers leave Ctrl-C to the parent, and end when it does, however it ends.

    Ctrl-C goes to the parent, which cancels the work and says so in one line. A parent
    killed outright (SIGKILL) cannot shut its pool down, so each worker watches it: on
    Linux the kernel sends SIGTERM at once (``prctl(PR_SET_PDEATHSIG)``); everywhere, a
    thread notices within `PARENT_CHECK_SECONDS` that the parent is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    if os.getppid() != parent:  # gone before the watch began
        os._exit(1)
    threading.Thread(target=watch, name="flowsim-parent-watch", daemon=True).start()


@contextlib.contextmanager
def open_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    executor: Executor | None = None,
) -> Iterator[Executor]:
    """The executor to submit replications to, shut down on leaving the context.

    Parameters
    ----------
    workers
        Local processes (default: the machine's cores); 1 runs in this process.
    scheduler
        Address of a Dask distributed scheduler, e.g. ``tcp://10.0.0.5:8786``; replaces
        the local pool.
    executor
        An executor of the caller's, yielded as it is and left open.
    """
    if executor is not None:
        if scheduler:
            raise RunError("give an executor or a scheduler, not both", field_path="scheduler")
        yield executor
        return
    if scheduler:
        with dask_executor(scheduler) as remote:
            yield remote
        return
    n_workers = default_workers() if workers is None else workers
    if n_workers < 1:
        raise RunError(f"must be at least 1, got {n_workers}", field_path="--workers")
    if n_workers == 1:
        yield SerialExecutor()
        return
    pool = ProcessPoolExecutor(
        max_workers=n_workers, initializer=_init_worker, initargs=(os.getpid(),)
    )
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


@contextlib.contextmanager
def dask_executor(scheduler: str) -> Iterator[Executor]:
    """A `concurrent.futures` executor on the Dask scheduler at `scheduler`."""
    try:
        from distributed import Client, KilledWorker
    except ImportError:
        raise RunError(
            f"needs Dask, which is not installed: {INSTALL_HINT}", field_path="--scheduler"
        ) from None
    _probe(scheduler)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except Exception as exc:  # any failure to connect is reported the same way
        raise _unreachable(scheduler, exc) from None
    try:
        _check_workers(client)
        # pure=False: every submission is its own task with its own key, which the
        # scheduler reruns as it is if the worker running it dies.
        yield client.get_executor(pure=False, retries=RETRIES)
    except KilledWorker as exc:
        raise RunError(
            f"task {exc.task!r} killed the Dask worker running it {exc.allowed_failures + 1} times "
            "(out of memory?); see the workers' logs",
            field_path="--scheduler",
        ) from None
    except CancelledError:
        raise RunError(
            f"lost the Dask scheduler {scheduler!r} before the run finished; rerun the command "
            "(a calibration or comparison resumes where it stopped)",
            field_path="--scheduler",
        ) from None
    finally:
        client.close()


def _probe(scheduler: str) -> None:
    """Refuse within `CONNECT_TIMEOUT` an address where no Dask scheduler answers.

    Dask's own connect bounds the TCP connection but not the handshake after it, so a
    server that accepts and stays silent (a dashboard port, say) would hang the client.
    """
    import asyncio

    from distributed import Security
    from distributed.comm import connect

    async def handshake() -> None:
        # The TLS settings of the Dask config, as the client will use them.
        tls = Security().get_connection_args("client")
        comm = await asyncio.wait_for(
            connect(scheduler, timeout=CONNECT_TIMEOUT, **tls), CONNECT_TIMEOUT + 1
        )
        await comm.close()

    try:
        asyncio.run(handshake())
    except Exception as exc:  # refused, unresolvable, silent or not Dask: all unreachable
        raise _unreachable(scheduler, exc) from None


def _unreachable(scheduler: str, exc: BaseException) -> RunError:
    from distributed.comm import CommClosedError

    if isinstance(exc, TimeoutError):
        reason = f"no answer within {CONNECT_TIMEOUT:g} s; is it the scheduler's port (often 8786)?"
    elif isinstance(exc, CommClosedError | MemoryError):  # what a server that is not Dask's gives
        reason = "it does not answer as a Dask scheduler; is it the scheduler's port (often 8786)?"
    else:
        reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RunError(
        f"cannot reach the Dask scheduler {scheduler!r} ({reason})", field_path="--scheduler"
    )


def _check_workers(client: Any) -> None:
    """Refuse workers without flowsim or with another version of it than this process."""
    from flowsim import __version__

    # Defined here so that it travels by value: a worker without flowsim can still run it.
    def installed_version() -> str:
        import flowsim

        return flowsim.__version__

    answers = client.run(installed_version, on_error="return")
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            raise RunError(
                f"Dask worker {worker} cannot run flowsim ({type(answer).__name__}: {answer}); "
                f"install flowsim {__version__} there",
                field_path="--scheduler",
            )
        if answer != __version__:
            raise RunError(
                f"Dask worker {worker} has flowsim {answer}, this is {__version__}; "
                "install the same version on every machine",
                field_path="--scheduler",
            )

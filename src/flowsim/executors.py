"""Where replications and calibration evaluations run when not in a local process pool.

Every command runs its replications through `flowsim.runner.map_replications`, which
takes any `concurrent.futures.Executor`. Without ``--scheduler`` that is a local
process pool of ``--workers`` processes; with it, `dask_executor` connects to a Dask
distributed scheduler and hands out the client's executor. Each replication's seed
comes from the run seed and its index, so results are the same wherever it runs, and a
replication lost with a dying worker is simply run again (``retries``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor

from flowsim.errors import RunError

#: Seconds to wait for a scheduler to answer.
CONNECT_TIMEOUT = 10
#: Times Dask reruns a replication whose worker died.
RETRIES = 3


@contextlib.contextmanager
def dask_executor(scheduler: str | None) -> Iterator[Executor | None]:
    """A `concurrent.futures` executor on the Dask scheduler at `scheduler`, or None without one."""
    if not scheduler:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise RunError(
            "needs Dask, which is not installed: pip install 'flowsim[dask]'", field_path="--scheduler"
        ) from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"cannot reach the Dask scheduler {scheduler!r} ({reason})", field_path="--scheduler") from None
    try:
        # pure=False: two replications with equal arguments are still two tasks.
        yield client.get_executor(pure=False, retries=RETRIES)
    finally:
        client.close()

"""Atomic writes: a result folder or file appears complete, or not at all.

Everything is written into a hidden sibling temporary folder, flushed to disk, and
renamed into place in one step. A run killed at any moment leaves at most a hidden
``.NAME.tmp-*`` folder, never a half-written result under the requested name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flowsim.errors import RunError


def _explain(err: OSError, target: Path) -> RunError:
    reason = {
        errno.ENOSPC: "no space left on device",
        errno.EACCES: "permission denied",
        errno.EROFS: "read-only file system",
        errno.EPERM: "operation not permitted",
    }.get(err.errno or 0, err.strerror or str(err))
    return RunError(f"cannot write results ({reason})", file=str(target))


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `target` in one rename."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; results are ordinary folders
    except OSError as err:
        raise _explain(err, target) from None
    try:
        yield tmp
        _fsync_tree(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _explain(err, target) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write a UTF-8 text file through a temporary sibling and a rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file through a temporary sibling and a rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as err:
        raise _explain(err, path) from None
    tmp = Path(tmp_name)
    try:
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; results are ordinary files
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _explain(err, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

"""Atomic writes: a result folder or file appears complete, or not at all.

Everything is written into a hidden sibling, ``.NAME.tmp-PID-HOST-XXXXXXXX``, flushed to
disk, and renamed into place in one step. A result already at NAME is swapped with the
new one in one step too (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere by two renames,
the old result put back if the second fails). So a run killed at any moment leaves under
NAME either the previous result or the new one, complete, and at most a hidden sibling,
which the next write to NAME tidies once the process that made it is gone. Such a
sibling is never a result: its name starts with a dot and carries ``.tmp-`` (or
``.old-``: an old result on its way out, which goes back to NAME if it was left alone).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flowsim.errors import RunError

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EROFS: "read-only file system",
    errno.EPERM: "operation not permitted",
}
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _explain(err: OSError, target: Path) -> RunError:
    reason = _REASONS.get(err.errno or 0, err.strerror or str(err))
    return RunError(f"cannot write results ({reason})", file=str(target))


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _owner_tag() -> str:
    """``PID-HOST`` of this process, in the names of its temporary siblings."""
    return f"{os.getpid()}-{_host()}"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process
        return False
    return False


def remove_stale(target: Path) -> list[Path]:
    """Tidy the hidden siblings of `target` left by killed writers on this machine.

    Only names this module makes (``.NAME.tmp-PID-HOST-*``, ``.NAME.old-PID-HOST``) whose
    process no longer runs; a sibling of a live writer, or of another machine sharing
    the folder, is left alone. An old result set aside by a writer killed before it put
    the new one in place (possible only without an atomic swap) goes back to `target`;
    everything else is removed. Returns the siblings removed or put back.
    """
    target = Path(target)
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.(tmp|old)-(\d+)-{re.escape(_host())}(?:-.*)?"
    )
    tidied = []
    try:
        siblings = sorted(target.parent.iterdir())
    except OSError:
        return tidied
    for path in siblings:
        match = pattern.fullmatch(path.name)
        if (
            not match
            or int(match.group(2)) == os.getpid()
            or not _process_gone(int(match.group(2)))
        ):
            continue
        with contextlib.suppress(OSError):
            if match.group(1) == "old" and not target.exists() and not target.is_symlink():
                os.rename(path, target)
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            tidied.append(path)
    return tidied


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step; False (nothing changed) where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    path_arg = ctypes.c_char_p
    renameat2.argtypes = [ctypes.c_int, path_arg, ctypes.c_int, path_arg, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _put_in_place(tmp: Path, target: Path) -> None:
    """Rename the finished folder `tmp` to `target`, replacing a result already there."""
    try:
        os.rename(tmp, target)  # no result yet (or an empty folder)
        return
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old result
        return
    old = target.with_name(f".{target.name}.old-{_owner_tag()}")
    try:
        os.rename(target, old)
        os.rename(tmp, target)
    except BaseException:
        # Interrupted between the two renames: the old result goes back.
        if old.exists() and not target.exists():
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `target` in one rename."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.tmp-{_owner_tag()}-", dir=target.parent)
        )
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; results are ordinary folders
    except OSError as err:
        raise _explain(err, target) from None
    try:
        yield tmp
        _fsync_tree(tmp)
        _put_in_place(tmp, target)
        with contextlib.suppress(OSError):  # durability of the rename; not every file system can
            _fsync_dir(target.parent)
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
        remove_stale(path)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-{_owner_tag()}-", dir=path.parent)
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

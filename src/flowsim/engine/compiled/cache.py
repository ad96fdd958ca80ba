"""The kernels' on-disk cache: compiled once, loaded by every later process and worker.

numba keeps compiled kernels beside the module (or in a user-wide folder if that is
read-only) and recompiles them when the source changes. A cache file it cannot read
(cut short by a full disk, or damaged) makes numba raise instead; so, before the
first kernel is used, every file that does not unpickle is deleted, and numba
compiles those kernels again. A file found readable is listed (with its size and
modification time) in `VERIFIED` beside it and not read again until it changes.
The folder also records that this machine's kernels passed the draws check
(`passed`, `record_pass`), so a process does not repeat it. numba compiles a kernel
again when its module's source changes, under a name that carries the kernel's line,
and never deletes the files of the old source; `discard_stale` does, so edits and
upgrades do not pile up past versions.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import pickle
import tempfile
from pathlib import Path

#: the cache files found readable: name -> [size, modification time in ns]
VERIFIED = "flowsim-verified.json"


def readable(path: Path) -> bool:
    """Whether numba could read this index (.nbi: two pickles) or data (.nbc: one) file."""
    try:
        stream = io.BytesIO(path.read_bytes())
        pickle.load(stream)
        if path.suffix == ".nbi":  # numba's version, then the index
            pickle.loads(stream.read())
    except Exception:  # any failure to unpickle means the file is unusable
        return False
    return True


def discard_unreadable(folder: Path) -> list[Path]:
    """Delete the cache files in `folder` that numba could not read; the ones deleted.

    A file listed in `VERIFIED` with its present size and modification time is not
    read again.
    """
    known = _verified(folder)
    found: dict[str, list[int]] = {}
    gone = []
    for path in sorted(folder.glob("*.nb[ic]")):
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile (numba replacing it)
            continue
        key = [stat.st_size, stat.st_mtime_ns]
        if known.get(path.name) == key or readable(path):
            found[path.name] = key
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            gone.append(path)
    if found != known:
        _write_atomically(folder / VERIFIED, json.dumps(found, sort_keys=True))
    return gone


def discard_stale(folder: Path, module: str, stamp: object, numba_version: str) -> list[Path]:
    """Delete the files of `module`'s kernels compiled from another version of its source.

    An index (``<module>.<kernel>-<line>.py<version>.nbi``) that this numba wrote with a
    source stamp other than `stamp` (numba's stamp of the source now) is never read
    again, nor are its data files; those are deleted. Files another numba wrote, or that
    do not unpickle (`discard_unreadable`'s business), are left alone.
    """
    gone = []
    for index in sorted(folder.glob(f"{glob.escape(module)}.*.nbi")):
        written = _index_stamp(index, numba_version)
        if written is None or written == stamp:
            continue
        base = glob.escape(index.name[: -len("nbi")])  # the data files: <base><n>.nbc
        for path in [index, *sorted(folder.glob(f"{base}*.nbc"))]:
            with contextlib.suppress(OSError):
                path.unlink()
                gone.append(path)
    return gone


def _index_stamp(index: Path, numba_version: str) -> object | None:
    """The source stamp in a numba index, or None if another numba wrote it or it is unreadable."""
    try:
        stream = io.BytesIO(index.read_bytes())
        if pickle.load(stream) != numba_version:
            return None
        stamp, _ = pickle.loads(stream.read())
    except Exception:  # any failure to unpickle: not ours to judge here
        return None
    return stamp


def discard_stale_kernels(dispatcher) -> list[Path]:
    """`discard_stale` for the module of a cached compiled function.

    Nothing if it is not cached, or if numba no longer names its cache's parts as read
    here (private names): then past versions stay, as numba itself leaves them.
    """
    import numba

    folder = cache_folder(dispatcher)
    impl = getattr(getattr(dispatcher, "_cache", None), "_impl", None)
    locator = getattr(impl, "locator", None)
    if folder is None or not folder.is_dir() or not hasattr(locator, "get_source_stamp"):
        return []
    module = dispatcher.py_func.__module__.rsplit(".", 1)[-1]
    return discard_stale(folder, module, locator.get_source_stamp(), numba.__version__)


def _verified(folder: Path) -> dict[str, list[int]]:
    try:
        known = json.loads((folder / VERIFIED).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or cut short: read every file
        return {}
    return known if isinstance(known, dict) else {}


def passed(folder: Path | None, key: str) -> bool:
    """Whether the check named `key` passed before, as recorded in `folder`."""
    return folder is not None and (folder / f"flowsim-passed-{key}").is_file()


def record_pass(folder: Path | None, key: str) -> None:
    """Record in `folder` that the check named `key` passed (nothing if it cannot)."""
    if folder is not None:
        _write_atomically(folder / f"flowsim-passed-{key}", "")


def _write_atomically(path: Path, text: str) -> None:
    """Write `path` whole or not at all (workers may write at once); silent if read-only."""
    with contextlib.suppress(OSError):
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".flowsim-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def cache_folder(dispatcher) -> Path | None:
    """Where numba caches this compiled function (None if it is not cached)."""
    cache = getattr(dispatcher, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    return Path(path) if path else None

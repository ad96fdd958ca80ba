"""The kernels' on-disk cache: compiled once, loaded by every later process and worker.

numba keeps compiled kernels beside the module (or in a user-wide folder if that is
read-only) and recompiles them when the source changes. A cache file it cannot read
(cut short by a full disk, or damaged) makes numba raise instead; so, before the
first kernel is used, every file that does not unpickle is deleted, and numba
compiles those kernels again.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path


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
    """Delete the cache files in `folder` that numba could not read; the ones deleted."""
    gone = []
    for path in sorted(folder.glob("*.nb[ic]")):
        if not readable(path):
            with contextlib.suppress(OSError):
                path.unlink()
                gone.append(path)
    return gone


def cache_folder(dispatcher) -> Path | None:
    """Where numba caches this compiled function (None if it is not cached)."""
    cache = getattr(dispatcher, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    return Path(path) if path else None

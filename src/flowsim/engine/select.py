"""Which engine runs a replication.

Both engines give the same outputs bit for bit (`tests/test_engine_equivalence.py`):
the compiled one (`flowsim.engine.compiled`) where numba is installed, the reference
one (`flowsim.engine.model`, readable Python) for traces, without numba, where numba's
draws are not numpy's (`pcg64.mismatches`, checked until it passes once for each
Python, numba, llvmlite, numpy and processor: `pcg64.check_key`), or when asked for with
``FLOWSIM_ENGINE=reference`` or ``engine="reference"``.
"""

from __future__ import annotations

import os
import sys

from flowsim.engine.model import Model

ENGINES = ("compiled", "reference")
_NOTICE = "flowsim: numba is not installed; running the reference engine (same results, slower)"
_MISMATCH = (
    "flowsim: this numba's draws differ from numpy's ({}); running the reference engine "
    "(same results, slower)"
)
_noticed = False
_compiled_ok: bool | None = None  #: the draws check, once per process


def model_class(engine: str | None = None, trace: bool = False) -> type[Model]:
    """The Model class for `engine` (default: ``FLOWSIM_ENGINE``, else compiled if it can)."""
    global _compiled_ok
    asked = engine or os.environ.get("FLOWSIM_ENGINE") or "compiled"
    if asked not in ENGINES:
        raise ValueError(f"unknown engine {asked!r}: expected one of {', '.join(ENGINES)}")
    if asked == "reference" or trace:
        return Model
    try:
        from flowsim.engine.compiled.model import CompiledModel
    except ImportError:
        return _reference(_NOTICE)
    if _compiled_ok is None:
        wrong = _draws_mismatches()
        _compiled_ok = not wrong
        if wrong:
            return _reference(_MISMATCH.format(", ".join(wrong)))
    return CompiledModel if _compiled_ok else Model


def _draws_mismatches() -> list[str]:
    """`pcg64.mismatches`, unless it passed before with the same `pcg64.check_key`."""
    from flowsim.engine.compiled import cache, kernel, pcg64

    folder, key = cache.cache_folder(kernel.advance), pcg64.check_key()
    if cache.passed(folder, key):
        return []
    wrong = pcg64.mismatches()
    if not wrong:
        cache.record_pass(folder, key)
    return wrong


def _reference(notice: str) -> type[Model]:
    """The reference engine, saying why once per process."""
    global _noticed
    if not _noticed:
        print(notice, file=sys.stderr)
        _noticed = True
    return Model

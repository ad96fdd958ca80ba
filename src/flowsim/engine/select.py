"""Which engine runs a replication.

Both engines give the same outputs bit for bit (`tests/test_engine_equivalence.py`):
the compiled one (`flowsim.engine.compiled`) where numba is installed, the reference
one (`flowsim.engine.model`, readable Python) for traces, without numba, or when asked
for with ``FLOWSIM_ENGINE=reference`` or ``engine="reference"``.
"""

from __future__ import annotations

import os
import sys

from flowsim.engine.model import Model

ENGINES = ("compiled", "reference")
_NOTICE = "flowsim: numba is not installed; running the reference engine (same results, slower)"
_noticed = False


def model_class(engine: str | None = None, trace: bool = False) -> type[Model]:
    """The Model class for `engine` (default: ``FLOWSIM_ENGINE``, else compiled if it can)."""
    global _noticed
    asked = engine or os.environ.get("FLOWSIM_ENGINE") or "compiled"
    if asked not in ENGINES:
        raise ValueError(f"unknown engine {asked!r}: expected one of {', '.join(ENGINES)}")
    if asked == "reference" or trace:
        return Model
    try:
        from flowsim.engine.compiled.model import CompiledModel
    except ImportError:
        if not _noticed:
            print(_NOTICE, file=sys.stderr)
            _noticed = True
        return Model
    return CompiledModel

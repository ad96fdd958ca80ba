"""flowsim: border-crossing queues and policy counterfactuals, as a SimPy discrete-event model.

The public API::

    import flowsim
    scenario = flowsim.load_scenario("scenarios/historical_2022.yaml")
    result = flowsim.run(scenario, replications=10, seed=1)
    result.daily  # date, country, checkpoint, metric, mean, p05, p50, p95
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "FlowsimError",
    "RunResult",
    "Scenario",
    "__version__",
    "json_schema",
    "load_scenario",
    "run",
]

if TYPE_CHECKING:
    from flowsim.errors import FlowsimError
    from flowsim.results import RunResult
    from flowsim.runner import run
    from flowsim.scenario import Scenario, json_schema, load_scenario

_LAZY = {
    "FlowsimError": "flowsim.errors",
    "RunResult": "flowsim.results",
    "run": "flowsim.runner",
    "Scenario": "flowsim.scenario",
    "json_schema": "flowsim.scenario",
    "load_scenario": "flowsim.scenario",
}


def __getattr__(name: str) -> Any:
    """Import the public API lazily, so ``import flowsim`` does no work."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flowsim' has no attribute {name!r}")

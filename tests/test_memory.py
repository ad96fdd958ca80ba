"""A replication pauses the cyclic garbage collector; it must therefore make no cyclic garbage."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

import flowsim
from flowsim.engine.model import Model
from flowsim.policies import install_all

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


def built_model() -> Model:
    scenario = flowsim.load_scenario(SMALL)
    model = Model(scenario, scenario.seed, 0)
    install_all(scenario, model)
    return model


#: Run in a fresh interpreter: threads that earlier tests left behind in this one (a Dask
#: client's event loop) make garbage of their own while the model runs.
CYCLE_CHECK = f"""
import gc, sys
from collections import Counter
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_memory import built_model
model = built_model()
gc.collect()
gc.disable()  # so that no automatic pass after the run hides what it left
gc.set_debug(gc.DEBUG_SAVEALL)
model.run()
found = gc.collect()
print(found, Counter(type(o).__qualname__ for o in gc.garbage).most_common(8))
"""


def test_a_run_leaves_no_cyclic_garbage():
    """Whatever a run stops referencing is freed at once by reference counting.

    The small scenario has every mechanism on (balking, reneging, diversion, all five
    policy types), so a new reference cycle per party or per event (a party pointing at
    a finished stage that points back, a closure holding its event) would leave
    thousands of objects for `gc.collect` to find, and memory would grow with the
    number of travellers while the collector is paused.
    """
    done = subprocess.run(
        [sys.executable, "-c", CYCLE_CHECK], capture_output=True, text=True, check=True
    )
    found, kinds = done.stdout.split(" ", 1)
    assert found == "0", f"{found} objects in cycles: {kinds}"


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_restores_the_collector(enabled):
    model = built_model()
    (gc.enable if enabled else gc.disable)()
    try:
        model.run()
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_compiled_rows_follow_the_parties_under_way_not_all_who_passed():
    """An M/M/2 queue at 90% for 100 days: over 250,000 parties pass, a few hundred rows serve.

    A row is free again when its party is done. At utilisation 0.9 the number in the
    system exceeds n with probability about 0.9^n, so over 260,000 arrivals it stays
    below about 150; with an hour's parties on their way (about 108) a few hundred rows
    suffice. Without reuse every party would take a row of its own.
    """
    from builders import build, single_checkpoint

    from flowsim.engine.compiled import layout
    from flowsim.engine.compiled.model import FIRST_ROWS, CompiledModel

    scenario = build(
        single_checkpoint(
            arrivals_per_hour=108.0,
            service_minutes={"dist": "exponential", "mean": 1.0},
            lanes=2,
            days=100,
        )
    )
    model = CompiledModel(scenario, scenario.seed, 0)
    install_all(scenario, model)
    model.run()
    g = model.arrays.globals_
    assert g[layout.G_PARTIES] > 250_000
    assert g[layout.G_ROWS] < 600
    assert model.arrays.parties_i.shape[0] <= FIRST_ROWS
    assert model.arrays.batch_parties.shape[0] <= FIRST_ROWS
    # The model's views, sites and processes refer to it: it waits for a full collection
    # (a worker's memory grew by ~20 MB a replication), but the kernels' queues and
    # stream buffers are let go when the run ends.
    assert model.state is None


def test_a_replication_lets_go_of_its_model_when_it_returns(monkeypatch):
    """`simulate` discards the model: the compiled engine's arrays go at once.

    The model's views, sites and processes refer to it, so without `Model.discard` it
    would wait for the cyclic collector (a worker's memory grew from 300 to 370 MiB over
    20 replications of the history; 222 MiB flat with it). With the collector off here,
    only reference counting can free it.
    """
    from flowsim import runner
    from flowsim.engine.compiled.model import CompiledModel

    held = []

    class Watched(CompiledModel):
        def run(self):
            held.append(weakref.ref(self.monitor))
            return super().run()

    monkeypatch.setattr(runner, "model_class", lambda engine, trace: Watched)
    scenario = flowsim.load_scenario(SMALL)
    gc.disable()
    try:
        out = runner.simulate(scenario, scenario.seed, 0)
        assert held[0]() is None and out.flows.sum() > 0
    finally:
        gc.enable()

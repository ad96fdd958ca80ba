"""The hot-path calendar and the reneging heap: cheaper bookkeeping, the same run."""

from __future__ import annotations

import numpy as np
from builders import build, single_checkpoint

from flowsim.engine import checkpoint
from flowsim.engine.calendar import Calendar
from flowsim.runner import simulate


def test_a_batch_of_calls_runs_in_time_order_among_single_calls():
    env = Calendar()
    seen = []

    def note(label, t):
        seen.append((t, label))

    env.call_each([1.0, 3.0, 5.0], [note] * 3, ["a1", "a3", "a5"])
    env.call_in(2.0, note, "b2")
    env.call_in(4.0, note, "b4")
    env.advance(4.5)
    assert seen == [(1.0, "a1"), (2.0, "b2"), (3.0, "a3"), (4.0, "b4")]
    assert env.pending_calls() == ["a5"]  # what is left of the batch, not the batch
    env.advance(10.0)
    assert seen[-1] == (5.0, "a5")
    assert env.pending_calls() == []
    assert env.calls_run == 5


def _reneging_run():
    # A lane loaded to its capacity (60 parties an hour, 1 minute each) and an hour's
    # patience: the queue rises and falls, most parties are served before their deadline,
    # and stale deadlines pile up again and again.
    scenario = build(
        single_checkpoint(
            arrivals_per_hour=60.0,
            service_minutes={"dist": "exponential", "mean": 1.0},
            lanes=1,
            days=3,
            patience_hours={"dist": "exponential", "mean": 1.0},
        )
    )
    return simulate(scenario, 5, 0, engine="reference")  # the reference Stage is patched


def test_dropping_stale_deadlines_changes_nothing_but_the_heap(monkeypatch):
    compactions = []
    compact = checkpoint.Stage._compact_deadlines

    def counted(stage):
        compactions.append(len(stage.deadlines))
        compact(stage)

    monkeypatch.setattr(checkpoint, "COMPACT_SLACK", 10**12)  # never compacts
    never = _reneging_run()
    monkeypatch.setattr(checkpoint, "COMPACT_SLACK", 4)
    monkeypatch.setattr(checkpoint.Stage, "_compact_deadlines", counted)
    often = _reneging_run()

    assert len(compactions) >= 10  # again and again, not once
    assert never.stage_stats[0].reneged > 100  # the check has reneging to get wrong
    assert never.stage_stats == often.stage_stats
    np.testing.assert_array_equal(never.flows, often.flows)
    np.testing.assert_array_equal(never.stocks, often.stocks)

"""Scalar draws served from batches: the same numbers as the batches, in order, drawn lazily."""

from __future__ import annotations

import numpy as np

from flowsim.streams import BATCH, buffered, make_generator


def test_buffered_draws_are_the_batches_in_order_across_batch_boundaries():
    draws = buffered(make_generator(1, 0, "test").random)
    got = [draws() for _ in range(2 * BATCH + 7)]
    expected = make_generator(1, 0, "test").random(3 * BATCH)[: 2 * BATCH + 7]
    assert got == expected.tolist()


def test_buffered_draws_nothing_before_the_first_call():
    calls: list[int] = []

    def fill(n: int) -> np.ndarray:
        calls.append(n)
        return np.arange(n, dtype=float)

    draws = buffered(fill)
    assert calls == []
    assert [draws(), draws()] == [0.0, 1.0]
    assert calls == [BATCH]

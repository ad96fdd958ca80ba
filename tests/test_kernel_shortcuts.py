"""The compiled engine's shortcuts give exactly what the reference engine computes.

Each replaces a slower call of the same meaning (Python's float floor division, numpy's
stable sort); the engines' outputs are equal bit for bit only if these are exact on every
input the kernels meet, edges and ties included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from flowsim.engine.compiled.kernel import _hour_of
from flowsim.engine.compiled.sources import SHORT, stable_order


def test_the_hour_of_a_time_is_pythons_floor_division_at_every_hour_edge():
    rng = np.random.default_rng(7)
    edges = 60.0 * np.arange(0, 2_000_000, 7, dtype=float)
    times = [
        *edges,
        *(math.nextafter(t, -math.inf) for t in edges),
        *(math.nextafter(t, math.inf) for t in edges),
        *rng.uniform(0.0, 1.2e8, 50_000),
        *(60.0 * k - 1e-9 for k in range(1, 5_000)),
    ]
    ours = np.array([_hour_of(t) for t in times])
    theirs = np.array([int(t // 60.0) for t in times])
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("n", [0, 1, 2, 5, SHORT - 1, SHORT, SHORT + 1, 200])
def test_the_order_of_times_is_numpys_stable_order_ties_included(n):
    rng = np.random.default_rng(n)
    for keys in (rng.uniform(0.0, 60.0, n), rng.integers(0, 4, n).astype(float)):
        assert np.array_equal(stable_order(keys), np.argsort(keys, kind="mergesort"))

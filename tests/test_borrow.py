"""Borrowed views (`flowsim.engine.compiled.borrow`) are the arrays they view, minus the count.

The kernels read every array of their state through such views; a view that copied, or
that lost its array's shape, strides or data, would change every output.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from flowsim.engine.compiled.borrow import borrowed


@njit
def _write_through(a, i, value):
    view = borrowed(a)
    view[i] = value
    return view


@njit
def _tuple_through(arrays):
    ints, floats = borrowed(arrays)
    ints[1, 2] += 7
    floats[::2] *= 2.0
    return ints.sum(), floats.sum()


def test_a_borrowed_view_reads_and_writes_the_array_itself():
    a = np.arange(10.0)
    view = _write_through(a, 3, -1.0)
    assert a[3] == -1.0 and np.shares_memory(view, a) and np.array_equal(view, a)


def test_a_tuple_of_arrays_is_borrowed_item_by_item_shapes_and_strides_kept():
    ints, floats = np.zeros((3, 4), np.int64), np.ones(5)
    assert _tuple_through((ints, floats)) == (7, 8.0)
    assert ints[1, 2] == 7 and floats.tolist() == [2.0, 1.0, 2.0, 1.0, 2.0]


def test_anything_but_arrays_is_refused_when_compiled():
    with pytest.raises(TypingError, match="borrowed"):
        _tuple_through((np.zeros(2), 1.0))

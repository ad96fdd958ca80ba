"""The compiled choice weights are the reference's, bit for bit, whatever the queues.

`CompiledChooser._weights_of` replaces a dozen numpy calls by two kernels around numpy's
exp; the weights then set every party's choice, so they must be equal, not close.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flowsim.engine.choice import Chooser
from flowsim.engine.compiled.model import CompiledModel
from flowsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def chooser():
    scenario = load_scenario(ROOT / "scenarios" / "historical_2022_calibrated.yaml")
    return CompiledModel(scenario, 7, 0).chooser


@pytest.mark.parametrize("seed", range(20))
def test_weights_equal_the_reference_for_random_waits_and_masks(chooser, seed):
    rng = np.random.default_rng(seed)
    n_alts, (n_profiles, n_row) = len(chooser.alt_site), chooser._open_flat.shape
    known = rng.exponential(rng.choice([0.1, 5.0, 200.0]), n_alts)
    known[rng.random(n_alts) < 0.2] = 0.0  # ties within a row, and unusable alternatives
    usable = rng.random(n_alts) < 0.8
    open_now = rng.random((n_profiles, n_row)) < 0.7
    expected = Chooser._weights_of(chooser, known, usable, open_now)
    ours = chooser._weights_of(known, usable, open_now)
    assert ours.shape == expected.shape and np.array_equal(ours, expected)


def test_the_row_maximum_is_numpys_even_for_a_nan(chooser):
    known = np.ones(len(chooser.alt_site))
    known[chooser.flat_idx[1]] = np.nan
    usable, open_now = np.ones(known.size, bool), np.ones(chooser._open_flat.shape, bool)
    expected = Chooser._weights_of(chooser, known, usable, open_now)
    ours = chooser._weights_of(known, usable, open_now)
    assert np.isnan(expected).any() and np.array_equal(ours, expected, equal_nan=True)

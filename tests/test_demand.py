"""Batches of parties: each block's draws are its own, whatever other blocks drew."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import flowsim
from flowsim.demand import PartySource
from flowsim.distributions import party_size
from flowsim.scenario import schema
from flowsim.streams import Streams

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


def source() -> PartySource:
    scenario = flowsim.load_scenario(SMALL)
    origin, klass = next(iter(scenario.demand.origins)), next(iter(scenario.demand.classes))
    return PartySource(scenario, origin, klass, Streams(7, 0))


def as_arrays(batch) -> dict[str, np.ndarray]:
    return {name: getattr(batch, name) for name in batch.__slots__}


def test_a_block_draws_the_same_parties_whatever_came_before():
    """Blocks without parties (which skip most streams), small and large blocks before
    block 9 leave its parties unchanged: common random numbers across parameter values."""
    alone = as_arrays(source().draw(9, 30.0, 5.0, 540.0, 600.0))
    assert alone["times"].size > 0
    src = source()
    for block, expected in [(3, 1e-9), (4, 200.0), (5, 1e-9), (8, 2.0)]:
        src.draw(block, expected, 0.0, block * 60.0, block * 60.0 + 60.0)
    after = as_arrays(src.draw(9, 30.0, 5.0, 540.0, 600.0))
    for name, values in alone.items():
        np.testing.assert_array_equal(after[name], values, err_msg=name)


def test_a_block_without_parties_looks_like_one_with_parties():
    src = source()
    empty = as_arrays(src.draw(3, 1e-9, 0.0, 180.0, 240.0))
    full = as_arrays(src.draw(4, 50.0, 10.0, 240.0, 300.0))
    for name, values in full.items():
        assert empty[name].size == 0, name
        assert (empty[name].dtype, empty[name].shape[1:]) == (values.dtype, values.shape[1:]), name


def test_categorical_party_sizes_draw_what_numpy_choice_draws():
    """The categorical sampler skips `Generator.choice`'s per-call checks, not its numbers:
    same values and the same stream position afterwards, so results stay comparable."""
    spec = schema.Categorical(dist="categorical", values=[1, 2, 3, 5], weights=[0.4, 0.3, 0.2, 0.1])
    sizes = party_size(spec)
    for seed in range(20):
        ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
        n = 7 * seed
        expected = numpys.choice(np.array([1, 2, 3, 5]), n, p=np.array([0.4, 0.3, 0.2, 0.1]))
        np.testing.assert_array_equal(sizes.sample(ours, n), expected)
        assert ours.random() == numpys.random()


def test_a_dated_change_of_normal_traffic_scales_its_rate_from_then_on():
    """`demand.normal_traffic`: the baseline times each factor from its date to the next;
    the surge is untouched. Expected persons are exact, so the check is exact too."""
    from flowsim.demand import persons_per_step
    from flowsim.timebase import Clock

    plain = flowsim.load_scenario(SMALL)
    horizon = plain.horizon
    day = horizon.start + (horizon.end - horizon.start) / 2
    day = day.replace(minute=0, second=0, microsecond=0)
    later = day + (horizon.end - day) / 2
    later = later.replace(minute=0, second=0, microsecond=0)
    changes = (
        f"demand.normal_traffic=[{{at: {day.isoformat()}, factor: 0.6, source: assumption}},"
        f" {{at: {later.isoformat()}, factor: 1.2, source: assumption}}]"
    )
    changed = flowsim.load_scenario(SMALL, [changes])
    clock = Clock(horizon.start, horizon.end)
    before, after = persons_per_step(plain, clock), persons_per_step(changed, clock)
    step = (np.arange(before.shape[2]) + 0.5) * 15.0
    expected = np.where(
        step >= clock.minutes(later), 1.2, np.where(step >= clock.minutes(day), 0.6, 1.0)
    )
    np.testing.assert_allclose(after[0], before[0] * expected)
    np.testing.assert_array_equal(after[1], before[1])  # the surge


def test_normal_traffic_changes_out_of_order_are_refused(tmp_path):
    import pytest

    from flowsim.errors import ScenarioError

    changes = (
        "demand.normal_traffic=[{at: 2022-09-03T00:00:00+03:00, factor: 0.5, source: assumption},"
        " {at: 2022-09-02T00:00:00+03:00, factor: 1.0, source: assumption}]"
    )
    with pytest.raises(ScenarioError, match=r"demand\.normal_traffic: changes must be in strict"):
        flowsim.load_scenario(SMALL, [changes])

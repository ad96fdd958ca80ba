"""The compiled engine's PCG64 streams draw what numpy's generators draw, position for position."""

from __future__ import annotations

import numpy as np
import pytest

from flowsim.engine.compiled import pcg64
from flowsim.streams import BLOCK_STRIDE, PART_STRIDE, BlockStream, make_generator


def test_every_law_demand_uses_draws_numpys_numbers_and_leaves_its_state():
    assert pcg64.mismatches(n=20_000) == []


def test_a_law_drawn_differently_is_reported(monkeypatch):
    def off_by_one(rng, law, a, b, n):
        out = np.asarray(original(rng, law, a, b, n), float)
        if law == "poisson":
            out[-1] += 1
        return out

    original = pcg64._numpy_sample
    monkeypatch.setattr(pcg64, "_numpy_sample", off_by_one)
    wrong = pcg64.mismatches(n=50)
    assert wrong and all(w.startswith("poisson(") for w in wrong)
    assert len(wrong) == sum(law == "poisson" for law, _, _ in pcg64.CHECKED)


@pytest.mark.parametrize("block, part", [(0, 0), (1, 0), (5, 3), (1223, 7), (2**20, 31)])
def test_a_position_is_the_block_streams_position(block, part):
    stream = BlockStream(make_generator(7, 2, "demand/moscow/car/time"))
    by, out = np.zeros(4, np.uint64), np.zeros(4, np.uint64)
    pcg64.jump(block * BLOCK_STRIDE + part * PART_STRIDE, by)
    pcg64.leap(pcg64.origin(stream.origin), by, out)
    rng = stream.at(block, part)
    assert np.array_equal(out, pcg64.origin(rng.bit_generator.state))
    assert [pcg64.next_double(out) for _ in range(5)] == rng.random(5).tolist()


@pytest.mark.parametrize("block, part", [(1, 1), (1223, 4), (2**20, 31)])
def test_a_blocks_jump_then_a_parts_is_the_jump_to_both(block, part):
    """How `sources.set_out` positions a part's stream: the block's jump, then the part's."""
    stream = BlockStream(make_generator(7, 2, "demand/moscow/car/attributes"))
    to_block, to_part, both = (np.zeros(4, np.uint64) for _ in range(3))
    pcg64.jump(block * BLOCK_STRIDE, to_block)
    pcg64.jump(part * PART_STRIDE, to_part)
    pcg64.then(to_block, to_part, both)
    out = np.zeros(4, np.uint64)
    pcg64.leap(pcg64.origin(stream.origin), both, out)
    assert np.array_equal(out, pcg64.origin(stream.at(block, part).bit_generator.state))


def test_a_state_with_a_buffered_half_word_is_refused():
    rng = np.random.Generator(np.random.PCG64(1))
    rng.integers(0, 2**32, dtype=np.uint32)  # leaves half of a 64-bit output buffered
    with pytest.raises(ValueError, match="no buffered 32-bit half"):
        pcg64.origin(rng.bit_generator.state)

"""Named random streams: one independent generator per random purpose.

Every random quantity of a replication draws from its own stream, keyed by
``(seed, replication, name)``. Two scenarios that differ only in a policy therefore
see the same arrivals (common random numbers), and the draws do not depend on the
order in which streams are first used. This is the only module that creates
random generators.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import partial
from itertools import chain

import numpy as np

BATCH = 4096


def stream_key(name: str) -> int:
    """Stable 32-bit key of a stream name (unlike ``hash``, identical across runs)."""
    return zlib.crc32(name.encode("utf-8"))


def make_generator(seed: int, replication: int, name: str) -> np.random.Generator:
    """Independent generator for one random purpose, e.g. ``"service/upper_lars/car/exit"``."""
    sequence = np.random.SeedSequence(seed, spawn_key=(replication, stream_key(name)))
    return np.random.Generator(np.random.PCG64(sequence))


#: Scalar draws one at a time, e.g. ``service()``: each call returns the next value.
Draws = Callable[[], float]


def buffered(fill: Callable[[int], np.ndarray]) -> Draws:
    """Scalar draws served from batches of a vectorised sampler.

    The calls stay in C (``next`` on a chained iterator of batches): a hot loop pays
    no Python frame per draw, only one `fill` per `BATCH` draws.
    """
    batches = iter(lambda: fill(BATCH).tolist(), None)  # a list is never None: endless
    return partial(next, chain.from_iterable(batches))


#: Draws reserved for each block of a `BlockStream` (far more than a block ever uses).
BLOCK_STRIDE = 1 << 40
#: Draws reserved for each part of a block (e.g. one attribute of a batch).
PART_STRIDE = 1 << 32


class BlockStream:
    """A generator whose draws for block ``b`` start at a fixed position of its stream.

    Block ``b`` reads from position ``b * BLOCK_STRIDE`` on (PCG64 jumps there in
    constant time), so what a block draws does not depend on how many numbers earlier
    blocks consumed. When a parameter change adds a party to one block, the parties of
    every other block stay the same: common random numbers hold across parameter
    values, which keeps a calibration's objective smooth.
    """

    __slots__ = ("_bits", "_generator", "origin")

    def __init__(self, generator: np.random.Generator) -> None:
        self._generator = generator
        self._bits = generator.bit_generator
        self.origin: dict = self._bits.state  #: the state of position 0

    def at(self, block: int, part: int = 0) -> np.random.Generator:
        """The generator, positioned at the start of `part` of `block`."""
        self._bits.state = self.origin
        self._bits.advance(block * BLOCK_STRIDE + part * PART_STRIDE)
        return self._generator


class Streams:
    """All streams of one replication; refuses to hand out the same name twice."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._names: set[str] = set()
        self._keys: dict[int, str] = {}

    def generator(self, name: str) -> np.random.Generator:
        """The generator of stream `name` (each name may be requested once)."""
        if name in self._names:
            raise ValueError(f"random stream {name!r} requested twice")
        key = stream_key(name)
        if key in self._keys:
            raise ValueError(f"random streams {name!r} and {self._keys[key]!r} collide")
        self._names.add(name)
        self._keys[key] = name
        return make_generator(self.seed, self.replication, name)

    def uniform(self, name: str) -> Draws:
        """Buffered U(0, 1) draws from stream `name`."""
        rng = self.generator(name)
        return buffered(rng.random)

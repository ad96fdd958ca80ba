"""numpy's PCG64 generator and the draws demand takes, compiled, position for position.

A stream is a row of four uint64 (state high, state low, increment high, increment low)
copied from the state of the numpy generator of the same name (`origin`). `jump` and
`leap` move it to any draw of its stream, as `PCG64.advance` does, and
`next_uint64`/`next_double` step it as
numpy does, so numba's own translations of numpy's distributions (imported from
`numba.np.random.distributions`) give the same draws as the numpy generator would:
`mismatches` checks every law demand uses against numpy (in `tests/test_pcg64.py`, and
before the compiled engine is first used with a new Python, numba, llvmlite, numpy or
processor: numba's internals may change; `check_key`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.np.random import generator_core
from numba.np.random.distributions import (
    random_binomial,
    random_loggam,
    random_lognormal,
    random_poisson_mult,
    random_standard_exponential,
    random_standard_gamma,
)

_JIT = {"cache": True, "nogil": True}
_U64 = np.uint64
_LOW32, _32 = _U64(0xFFFFFFFF), _U64(32)
#: PCG64's multiplier (PCG_DEFAULT_MULTIPLIER_128), high and low words
_MULT_HI, _MULT_LO = _U64(0x2360ED051FC65DA4), _U64(0x4385DF649FCCF645)
_DOUBLE_UNIT = 1.0 / 9007199254740992.0  # 2**-53


def origin(state: dict) -> np.ndarray:
    """The four words of a numpy PCG64 state (``generator.bit_generator.state``)."""
    if state["bit_generator"] != "PCG64" or state["has_uint32"]:
        raise ValueError("expected a PCG64 generator with no buffered 32-bit half")
    words = []
    for value in (state["state"]["state"], state["state"]["inc"]):
        words += [value >> 64, value & 0xFFFFFFFFFFFFFFFF]
    return np.array(words, np.uint64)


@njit(**_JIT)
def _mul64(a, b):
    """The 128-bit product of two uint64, as (high, low)."""
    a_lo, a_hi, b_lo, b_hi = a & _LOW32, a >> _32, b & _LOW32, b >> _32
    p0, p1, p2 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo
    middle = (p0 >> _32) + (p1 & _LOW32) + (p2 & _LOW32)
    low = (p0 & _LOW32) | (middle << _32)
    return a_hi * b_hi + (p1 >> _32) + (p2 >> _32) + (middle >> _32), low


@njit(**_JIT)
def _mul128(a_hi, a_lo, b_hi, b_lo):
    """The product modulo 2**128."""
    hi, lo = _mul64(a_lo, b_lo)
    return hi + a_lo * b_hi + a_hi * b_lo, lo


@njit(**_JIT)
def _add128(a_hi, a_lo, b_hi, b_lo):
    """The sum modulo 2**128."""
    lo = a_lo + b_lo
    return a_hi + b_hi + (_U64(1) if lo < a_lo else _U64(0)), lo


@njit(**_JIT)
def jump(delta, out):
    """`out` = (A, S) such that advancing by `delta` draws maps a state x to A x + S inc.

    numpy's `pcg_advance_lcg_128` with an increment of 1: what it accumulates for the
    increment is linear in it, so one jump serves every stream (mod 2**128).
    """
    mult_hi, mult_lo = _MULT_HI, _MULT_LO
    plus_hi, plus_lo = _U64(0), _U64(1)
    acc_mult_hi, acc_mult_lo, acc_plus_hi, acc_plus_lo = _U64(0), _U64(1), _U64(0), _U64(0)
    delta = _U64(delta)
    while delta > _U64(0):
        if delta & _U64(1):
            acc_mult_hi, acc_mult_lo = _mul128(acc_mult_hi, acc_mult_lo, mult_hi, mult_lo)
            acc_plus_hi, acc_plus_lo = _mul128(acc_plus_hi, acc_plus_lo, mult_hi, mult_lo)
            acc_plus_hi, acc_plus_lo = _add128(acc_plus_hi, acc_plus_lo, plus_hi, plus_lo)
        m1_hi, m1_lo = _add128(mult_hi, mult_lo, _U64(0), _U64(1))
        plus_hi, plus_lo = _mul128(m1_hi, m1_lo, plus_hi, plus_lo)
        mult_hi, mult_lo = _mul128(mult_hi, mult_lo, mult_hi, mult_lo)
        delta >>= _U64(1)
    out[0], out[1], out[2], out[3] = acc_mult_hi, acc_mult_lo, acc_plus_hi, acc_plus_lo


@njit(**_JIT)
def then(first, second, out):
    """`out` = the jump `first`, then the jump `second` (A2 A1, A2 S1 + S2)."""
    a_hi, a_lo = _mul128(second[0], second[1], first[0], first[1])
    s_hi, s_lo = _mul128(second[0], second[1], first[2], first[3])
    out[2], out[3] = _add128(s_hi, s_lo, second[2], second[3])
    out[0], out[1] = a_hi, a_lo


@njit(**_JIT)
def leap(start, by, out):
    """`out` = the stream `start` moved by the jump `by` (see `jump`)."""
    hi, lo = _mul128(by[0], by[1], start[0], start[1])
    c_hi, c_lo = _mul128(by[2], by[3], start[2], start[3])
    out[0], out[1] = _add128(hi, lo, c_hi, c_lo)
    out[2], out[3] = start[2], start[3]


@njit(**_JIT)
def next_uint64(g):
    """Step the stream and return its output (XSL-RR of the new state), as numpy's PCG64."""
    hi, lo = _mul128(g[0], g[1], _MULT_HI, _MULT_LO)
    hi, lo = _add128(hi, lo, g[2], g[3])
    g[0], g[1] = hi, lo
    value, rot = hi ^ lo, hi >> _U64(58)
    return (value >> rot) | (value << ((_U64(64) - rot) & _U64(63)))


@njit(**_JIT)
def next_double(g):
    """A U[0, 1) draw from the top 53 bits, as numpy's PCG64."""
    return (next_uint64(g) >> _U64(11)) * _DOUBLE_UNIT


def _is_stream(bitgen) -> bool:
    return isinstance(bitgen, types.Array) and bitgen.dtype == types.uint64 and bitgen.ndim == 1


# numba's distributions draw through these two functions; for a stream row they step it.
@overload(generator_core.next_uint64)
def _next_uint64_of_stream(bitgen):
    if _is_stream(bitgen):
        return lambda bitgen: next_uint64(bitgen)
    return None


@overload(generator_core.next_double)
def _next_double_of_stream(bitgen):
    if _is_stream(bitgen):
        return lambda bitgen: next_double(bitgen)
    return None


# --- the laws demand draws from, each as numpy's Generator method of the same name ------


@njit(**_JIT)
def poisson(g, lam):
    """`Generator.poisson(lam)` (numpy's `random_poisson`)."""
    if lam >= 10.0:
        return _poisson_ptrs(g, lam)
    if lam == 0.0:
        return 0
    return random_poisson_mult(g, lam)


@njit(**_JIT)
def _poisson_ptrs(g, lam):
    """Transformed rejection (Hörmann), as numpy's `random_poisson_ptrs`.

    numba's translation truncates `k` towards zero where numpy takes the floor, which
    differs once in a few thousand draws; this one takes the floor.
    """
    slam, loglam = np.sqrt(lam), np.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = next_double(g) - 0.5
        v = next_double(g)
        us = 0.5 - np.fabs(u)
        k = np.int64(np.floor((2 * a / us + b) * u + lam + 0.43))
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if np.log(v) + np.log(invalpha) - np.log(a / (us * us) + b) <= (
            -lam + k * loglam - random_loggam(k + 1)
        ):
            return k


@njit(**_JIT)
def binomial(g, n, p):
    """`Generator.binomial(n, p)`."""
    return random_binomial(g, n, p)


@njit(**_JIT)
def exponential(g, scale):
    """`Generator.exponential(scale)`."""
    return scale * random_standard_exponential(g)


@njit(**_JIT)
def gamma(g, shape, scale):
    """`Generator.gamma(shape, scale)`."""
    return scale * random_standard_gamma(g, shape)


@njit(**_JIT)
def lognormal(g, mean, sigma):
    """`Generator.lognormal(mean, sigma)`."""
    return random_lognormal(g, mean, sigma)


@njit(**_JIT)
def uniform(g, low, high):
    """`Generator.uniform(low, high)`."""
    return low + (high - low) * next_double(g)


# --- the check that these draws are numpy's ---------------------------------------------

#: (law, a, b): every law demand uses, on both sides of each algorithm's switch
#: (Poisson's at 10, the binomial's at n p = 30, the gamma's at shape 1)
CHECKED = (
    ("random", 0.0, 0.0),
    *(("poisson", lam, 0.0) for lam in (0.0, 0.4, 3.0, 9.99, 10.0, 12.3, 37.5, 600.0)),
    *(("binomial", p, n) for p in (0.02, 0.3, 0.5, 0.8) for n in (1.0, 3.0, 40.0, 300.0)),
    ("exponential", 2.5, 0.0),
    *(("gamma", shape, 3.0) for shape in (0.5, 1.0, 1.5625, 25.0)),
    ("lognormal", 1.2, 0.7),
    ("uniform", 3.0, 17.5),
)
_NAMES = ("random", "poisson", "binomial", "exponential", "gamma", "lognormal", "uniform")


@njit(**_JIT)
def _sample(g, law, a, b, n):
    out = np.empty(n)
    for i in range(n):
        if law == 0:
            out[i] = next_double(g)
        elif law == 1:
            out[i] = poisson(g, a)
        elif law == 2:
            out[i] = binomial(g, np.int64(b), a)
        elif law == 3:
            out[i] = exponential(g, a)
        elif law == 4:
            out[i] = gamma(g, a, b)
        elif law == 5:
            out[i] = lognormal(g, a, b)
        else:
            out[i] = uniform(g, a, b)
    return out


def _numpy_sample(rng: np.random.Generator, law: str, a: float, b: float, n: int) -> np.ndarray:
    if law == "random":
        return rng.random(n)
    if law == "binomial":
        return rng.binomial(int(b), a, n).astype(float)
    if law in ("poisson", "exponential"):
        return getattr(rng, law)(a, n).astype(float)
    return getattr(rng, law)(a, b, n)


def mismatches(n: int = 2000, seed: int = 20221021) -> list[str]:
    """The laws in `CHECKED` whose `n` draws, or whose state after them, differ from numpy's."""
    out = []
    for i, (law, a, b) in enumerate(CHECKED):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(i,))))
        rng.bit_generator.advance(i * 1_000_003)
        g = origin(rng.bit_generator.state)
        ours = _sample(g, _NAMES.index(law), a, b, n)
        theirs = _numpy_sample(rng, law, a, b, n)
        if not (
            np.array_equal(ours, theirs) and np.array_equal(g, origin(rng.bit_generator.state))
        ):
            out.append(f"{law}({a}, {b})")
    return out


def check_key() -> str:
    """What `mismatches` depends on: this module, Python, numba, llvmlite, numpy, the processor.

    The processor is the one numba compiles for: the host's, unless NUMBA_CPU_NAME and
    NUMBA_CPU_FEATURES say another.
    """
    import platform

    import llvmlite
    import llvmlite.binding as llvm
    import numba
    from numba.core import config

    digest = hashlib.sha256(Path(__file__).read_bytes())
    versions = (platform.python_version(), numba.__version__, llvmlite.__version__, np.__version__)
    cpu = (
        config.CPU_NAME or llvm.get_host_cpu_name(),
        config.CPU_FEATURES or llvm.get_host_cpu_features().flatten(),
    )
    for part in (*versions, *cpu):
        digest.update(part.encode())
    return "draws-" + digest.hexdigest()[:20]

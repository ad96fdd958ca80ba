"""Demand, compiled: each block's parties drawn, choosing and set on their way in one call.

`set_out` is the compiled twin of the reference engine's `Model._set_out`: for each
(origin, class) in turn it draws the block's parties as `PartySource.draw` does, from
copies of the same positioned streams (`pcg64`), picks each party's crossing as
`Chooser.choose` does, and hands them to `kernel.dispatch`. The same draws in the same
order give the same parties, bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.experimental import structref

from flowsim.demand import PURPOSES, PartySource
from flowsim.distributions import Distribution
from flowsim.engine.compiled import pcg64
from flowsim.engine.compiled.borrow import borrowed
from flowsim.engine.compiled.kernel import _INLINE, _JIT, dispatch
from flowsim.engine.compiled.layout import (
    G_BATCH_FILL,
    G_FREE,
    G_ON_WAY,
    G_ROWS,
    G_WAITING,
    NO_CHOICE,
    RESERVE,
)
from flowsim.streams import BLOCK_STRIDE, PART_STRIDE

#: a source's streams, numbered in `demand.PURPOSES` order
COUNT, TIME, SURGE, SIZE, ATTRIBUTES, INFORMED, CHOICE, BALK, PATIENCE = range(9)
#: laws (`Distribution.law`); NONE: no balking or reneging (an infinite threshold)
LAWS = ("fixed", "exponential", "uniform", "gamma", "lognormal", "shifted_poisson", "categorical")
FIXED, EXPONENTIAL, UNIFORM, GAMMA, LOGNORMAL, SHIFTED_POISSON, CATEGORICAL = range(7)
NONE = -1
#: per source, int columns: its origin, class, and its laws
ORIGIN_OF, KLASS_OF, SIZE_LAW, SIZE_VALUES, BALK_LAW, PATIENCE_LAW = range(6)
#: per source, float columns: the laws' parameters and the informed share
SIZE_MEAN, BALK_A, BALK_B, PATIENCE_A, PATIENCE_B, INFORMED_SHARE = range(6)


class Tables(NamedTuple):
    """What `set_out` reads: the sources in the reference engine's order, o-major."""

    streams: np.ndarray  #: uint64 [source, purpose, 4]: each stream at position 0
    expected: np.ndarray  #: float64 [baseline | surge, source, block] parties
    source_i: np.ndarray  #: int64 [source, column]
    source_f: np.ndarray  #: float64 [source, column]
    size_values: np.ndarray  #: int64 [source, value]: a categorical size's values
    size_cdf: np.ndarray  #: float64 [source, value]: and their cumulative shares
    shares: np.ndarray  #: float64 [source, attribute, normal | surge]
    attribute_i: np.ndarray  #: int64 [attribute, per person | given's index or -1]
    position: np.ndarray  #: uint64 [4]: the stream being drawn from
    part_jumps: np.ndarray  #: uint64 [attribute, 4]: `pcg64.jump` to each attribute's part
    jumps: np.ndarray  #: uint64 [1 + attribute, 4]: to the block being drawn, and its parts


@structref.register
class SourcesType(types.StructRef):
    """Numba's type of `Sources`."""

    def preprocess_fields(self, fields):
        """Fields typed by their values, not as literals."""
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class Sources(structref.StructRefProxy):
    """The kernels' handle on `Tables` (one pointer per call)."""


structref.define_proxy(Sources, SourcesType, list(Tables._fields))


@njit(**_JIT)
def new_sources(tables):
    """The `Sources` over `tables` (a `Tables` as a plain tuple), built where it is cached.

    It reads them through borrowed views: the caller keeps `tables` while it uses it.
    """
    return Sources(*borrowed(tables))


def _law(distribution: Distribution | None) -> tuple[int, float, float]:
    """Law code and its first two parameters (NONE for a threshold that is not drawn)."""
    if distribution is None:
        return NONE, np.inf, 0.0
    name, parameters = distribution.law
    a, b = (*parameters, 0.0)[:2]
    return LAWS.index(name), a, b


def tables(sources: list[list[PartySource]], expected: np.ndarray) -> Tables:
    """The tables of the model's sources, with the expected parties [kind, origin, class, block]."""
    flat = [(o, k, s) for o, row in enumerate(sources) for k, s in enumerate(row)]
    n, n_attributes = len(flat), len(flat[0][2].attributes)
    width = max(
        (len(s.size.law[1][0]) for _, _, s in flat if s.size.law[0] == "categorical"), default=1
    )
    out = Tables(
        streams=np.zeros((n, len(PURPOSES), 4), np.uint64),
        expected=np.ascontiguousarray(expected.reshape(2, n, expected.shape[-1])),
        source_i=np.zeros((n, 6), np.int64),
        source_f=np.zeros((n, 6)),
        size_values=np.zeros((n, width), np.int64),
        size_cdf=np.zeros((n, width)),
        shares=np.zeros((n, n_attributes, 2)),
        attribute_i=np.array(
            [(per_person, given) for _, _, per_person, given in flat[0][2].attributes], np.int64
        ).reshape(n_attributes, 2),
        position=np.zeros(4, np.uint64),
        part_jumps=np.zeros((n_attributes, 4), np.uint64),
        jumps=np.zeros((1 + n_attributes, 4), np.uint64),
    )
    for a in range(n_attributes):
        pcg64.jump(a * PART_STRIDE, out.part_jumps[a])
    for row, (o, k, source) in enumerate(flat):
        for p, purpose in enumerate(PURPOSES):
            out.streams[row, p] = pcg64.origin(source.streams[purpose].origin)
        size_name, size_parameters = source.size.law
        balk, patience = _law(source.balk), _law(source.patience)
        values = len(size_parameters[0]) if size_name == "categorical" else 0
        out.source_i[row] = (o, k, LAWS.index(size_name), values, balk[0], patience[0])
        if size_name == "categorical":
            out.size_values[row, :values], out.size_cdf[row, :values] = size_parameters
        else:
            out.source_f[row, SIZE_MEAN] = size_parameters[0]
        out.source_f[row, BALK_A:] = (*balk[1:], *patience[1:], source.informed_share)
        out.shares[row] = [(normal, surge) for normal, surge, _, _ in source.attributes]
    return out


@njit(**_JIT)
def _room(st, n):
    """Whether the arrays and the retry stream hold what `n` more parties may need."""
    g = st.globals_
    retry = st.choice_streams[1]
    return (
        g[G_ROWS] + max(n - g[G_FREE], 0) <= st.parties_i.shape[0]
        and g[G_ON_WAY] + n <= st.on_way.shape[0]
        and g[G_BATCH_FILL] + g[G_ON_WAY] + n <= st.batch_parties.shape[0]
        and st.stream_end[retry] - st.stream_pos[retry]
        >= 2 * g[G_WAITING] + RESERVE + n * (st.commitment.shape[0] + 1)
    )


@njit(**_JIT)
def set_out(st, src, block, t0, t1, first, deters):
    """`Model._set_out` from source `first` on.

    Returns (-1, 0) when every source is done, or (source, parties) where it stopped for
    the model to make room for that many parties (then call again from there).
    """
    g, jumps = src.position, src.jumps
    pcg64.jump(block * BLOCK_STRIDE, jumps[0])  # one jump positions every stream
    for a in range(src.part_jumps.shape[0]):
        pcg64.then(jumps[0], src.part_jumps[a], jumps[1 + a])
    for s in range(first, src.expected.shape[1]):
        baseline, surge = src.expected[0, s, block], src.expected[1, s, block]
        expected = baseline + surge
        if not expected > 0:
            continue
        pcg64.leap(src.streams[s, COUNT], jumps[0], g)
        n = pcg64.poisson(g, expected)
        if n == 0:
            continue
        if not _room(st, n):
            return s, n
        _set_out_source(st, src, s, n, expected, surge, t0, t1, deters)
    return -1, 0


#: below this many parties, an insertion sort beats numba's merge sort and its allocations
SHORT = 48


@njit(**_JIT)
def stable_order(keys):
    """``np.argsort(keys, kind="mergesort")``: the order of `keys`, ties in their order."""
    n = keys.shape[0]
    if n > SHORT:
        return np.argsort(keys, kind="mergesort")
    order = np.arange(n)
    for i in range(1, n):
        j, moving = i, order[i]
        while j > 0 and keys[order[j - 1]] > keys[moving]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = moving
    return order


@njit(**_JIT)
def _draw(g, law, a, b):
    """One draw of a balking or patience threshold (`Distribution.sample`)."""
    if law == EXPONENTIAL:
        return pcg64.exponential(g, a)
    if law == UNIFORM:
        return pcg64.uniform(g, a, b)
    if law == GAMMA:
        return pcg64.gamma(g, a, b)
    if law == LOGNORMAL:
        return pcg64.lognormal(g, a, b)
    return a  # FIXED, or NONE (infinite)


@njit(**_INLINE)
def _thresholds(src, s, purpose, law, a, b, n):
    """A threshold per party, as `Distribution.sample` (or `np.full`) gives them."""
    out = np.full(n, a)
    if law != FIXED and law != NONE:
        pcg64.leap(src.streams[s, purpose], src.jumps[0], src.position)
        for i in range(n):
            out[i] = _draw(src.position, law, a, b)
    return out


@njit(**_JIT)
def _sizes(src, s, n):
    """`Distribution.sample` of the source's party size."""
    g, law = src.position, src.source_i[s, SIZE_LAW]
    sizes = np.empty(n, np.int64)
    if law == FIXED:
        sizes[:] = np.int64(src.source_f[s, SIZE_MEAN])
        return sizes
    pcg64.leap(src.streams[s, SIZE], src.jumps[0], g)
    if law == SHIFTED_POISSON:
        for i in range(n):
            sizes[i] = 1 + pcg64.poisson(g, src.source_f[s, SIZE_MEAN])
        return sizes
    m = src.source_i[s, SIZE_VALUES]
    for i in range(n):
        u, j = pcg64.next_double(g), 0
        while j < m and src.size_cdf[s, j] <= u:  # `searchsorted(side="right")`
            j += 1
        sizes[i] = src.size_values[s, j]
    return sizes


@njit(**_JIT)
def _counts(src, s, sizes, is_surge):
    """Persons of each party holding each attribute (`PartySource.draw`)."""
    g, n = src.position, sizes.shape[0]
    counts = np.zeros((n, src.shares.shape[1]), np.int64)
    for a in range(src.shares.shape[1]):
        normal, surge = src.shares[s, a, 0], src.shares[s, a, 1]
        if normal == 0.0 and surge == 0.0:
            continue
        pcg64.leap(src.streams[s, ATTRIBUTES], src.jumps[1 + a], g)
        per_person, given = src.attribute_i[a, 0], src.attribute_i[a, 1]
        for i in range(n):
            share = normal if normal == surge else (surge if is_surge[i] else normal)
            if per_person:
                held = pcg64.binomial(g, sizes[i], share)
            else:
                held = sizes[i] if pcg64.next_double(g) < share else 0
            if given >= 0 and not counts[i, given] > 0:
                held = 0
            counts[i, a] = held
    return counts


@njit(**_INLINE)
def _set_out_source(st, src, s, n, expected, surge, t0, t1, deters):
    """One source's `n` parties: `PartySource.draw`, `Chooser.choose`, `Model._dispatch`."""
    g, at = src.position, src.jumps[0]
    times, is_surge = np.empty(n), np.empty(n, np.bool_)
    informed, choice_u = np.empty(n, np.bool_), np.empty(n)
    pcg64.leap(src.streams[s, TIME], at, g)
    for i in range(n):
        times[i] = pcg64.uniform(g, t0, t1)
    pcg64.leap(src.streams[s, SURGE], at, g)
    for i in range(n):
        is_surge[i] = pcg64.next_double(g) * expected < surge
    sizes = _sizes(src, s, n)
    counts = _counts(src, s, sizes, is_surge)
    pcg64.leap(src.streams[s, INFORMED], at, g)
    for i in range(n):
        informed[i] = pcg64.next_double(g) < src.source_f[s, INFORMED_SHARE]
    pcg64.leap(src.streams[s, CHOICE], at, g)
    for i in range(n):
        choice_u[i] = pcg64.next_double(g)
    si, sf = src.source_i[s], src.source_f[s]
    balk = _thresholds(src, s, BALK, si[BALK_LAW], sf[BALK_A], sf[BALK_B], n)
    patience = _thresholds(src, s, PATIENCE, si[PATIENCE_LAW], sf[PATIENCE_A], sf[PATIENCE_B], n)
    order = stable_order(times)  # as `PartySource.draw`, which sorts the parties by time
    profiles = np.zeros(n, np.int64)
    for i in range(n):
        for a in range(counts.shape[1]):
            if counts[i, a] > 0:
                profiles[i] |= np.int64(1) << a
    origin, klass = si[ORIGIN_OF], si[KLASS_OF]
    chosen = _choose(st, origin, klass, order, informed, is_surge, profiles, choice_u)
    dispatch(
        st,
        origin,
        klass,
        t0,
        order,
        times,
        sizes,
        counts,
        profiles,
        informed,
        balk,
        patience,
        is_surge,
        chosen,
        deters,
    )


@njit(**_JIT)
def _choose(st, origin, klass, order, informed, is_surge, profiles, choice_u):
    """`Chooser.choose`: the alternative of each party in `order` (its row's weights inverted)."""
    start, length = st.row_start[origin, klass], st.row_length[origin, klass]
    chosen = np.full(order.shape[0], NO_CHOICE, np.int64)
    if length == 0:
        return chosen
    w = st.weights
    for j in range(order.shape[0]):
        i = order[j]
        kind, p = int(informed[i]) + 2 * int(is_surge[i]), profiles[i]
        total = 0.0
        for c in range(length):
            total += w[kind, p, start + c]
        threshold, cumulative, local = choice_u[i] * total, 0.0, 0
        for c in range(length):
            cumulative += w[kind, p, start + c]
            if cumulative <= threshold:
                local += 1
        if total > 0:
            chosen[j] = st.row_alt[start + min(local, length - 1)]
    return chosen

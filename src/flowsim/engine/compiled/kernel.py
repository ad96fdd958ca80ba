"""The per-party work of a replication, compiled: arrivals, stages, rules, diversion, counters.

Each function is the compiled twin of a method of the reference engine (named in its
docstring) and does the same arithmetic in the same order, taking the same draws in
the same order from each named stream (the model fills each stream's buffer from its
numpy generator, as the reference engine's buffered draws do), so both engines give
the same outputs bit for bit. SimPy stays the clock: `advance` runs the calls
due before SimPy's next event; the model's processes call `launch`, `fill`, `settle`
and `snapshot` at their own events, and `sources.set_out` calls `dispatch`.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.typed import List

from flowsim.engine.compiled.borrow import borrowed
from flowsim.engine.compiled.cache import cache_folder, discard_unreadable
from flowsim.engine.compiled.layout import (
    ALL_MODES,
    ALT,
    AREA,
    ARRIVALS,
    ARRIVED,
    ATTRIBUTE,
    BALK,
    BALKED,
    BUSY,
    BUSY_PERSONS,
    CALL_ARRIVE,
    CALL_BATCH,
    CALL_DONE,
    CAPACITY,
    COMPACT_SLACK,
    COMPLIANCE,
    DEADLINE,
    DEADLINE_SEQ,
    DEPARTURES,
    DIVERTED,
    DONE,
    ENTRIES,
    EXTRA_MINUTES,
    G_BATCH_FILL,
    G_BATCHES,
    G_CALENDAR,
    G_CALLS,
    G_FAILED,
    G_FREE,
    G_ON_WAY,
    G_PARTIES,
    G_REFILL,
    G_ROWS,
    G_SEQ,
    G_WAITING,
    IN_SERVICE,
    INFORMED,
    IS_EXIT,
    JOINED,
    JOINED_QUEUE,
    KLASS,
    MEAN,
    MODES,
    MULTIPLIER,
    N_DEADLINES,
    NO_CHOICE,
    OPEN,
    ORIGIN,
    PASS_THROUGH,
    PATIENCE,
    PROFILE,
    QUEUE_HEAD,
    QUEUE_TAIL,
    REFUSALS,
    REFUSES,
    RENEGE_WAIT_TOTAL,
    RENEGED,
    RENEGED_OUT,
    RENEGES,
    RESERVE,
    RULE_STREAM,
    SCREENS,
    SERIAL,
    SERVED,
    SINCE,
    SITE,
    SIZE,
    SPACE_M,
    STAGE,
    STAGE_SITE,
    STATE,
    STOPS,
    STREAM,
    SURGE,
    TRAVELLING,
    TRIED,
    TURN_BACK_SHARE,
    TURNED_BACK,
    WAIT_TOTAL,
    WAITING,
    WAITING_PERSONS,
    WAITING_UNITS,
    WHOLE_PARTY,
    WITH,
    WITHOUT,
    State,
)

INF = np.inf
_JIT = {"cache": True, "nogil": True}
#: for a helper called with constant arguments: numba would compile it again for each
#: constant (as a literal type); inlined into its callers, it is typed once per call site
_INLINE = {**_JIT, "inline": "always"}

# --- heaps of rows ordered on (column 0, column 1) ----------------------------------
# A sift moves a hole, not the row: the row's (at most 5) values wait in locals and are
# written once, where the row belongs (the same places as swapping it down or up).


@njit(**_INLINE)
def _read_row(h, i):
    w = h.shape[1]
    return (
        h[i, 0],
        h[i, 1],
        h[i, 2] if w > 2 else 0.0,
        h[i, 3] if w > 3 else 0.0,
        h[i, 4] if w > 4 else 0.0,
    )


@njit(**_INLINE)
def _write_row(h, i, v0, v1, v2, v3, v4):
    w = h.shape[1]
    h[i, 0], h[i, 1] = v0, v1
    if w > 2:
        h[i, 2] = v2
    if w > 3:
        h[i, 3] = v3
    if w > 4:
        h[i, 4] = v4


@njit(**_INLINE)
def _move_row(h, to, frm):
    for c in range(h.shape[1]):
        h[to, c] = h[frm, c]


@njit(**_INLINE)
def _copy_rows(dst, to, src, frm, n):
    """``dst[to:to + n] = src[frm:frm + n]``, first row first (so `to` <= `frm` may overlap).

    Loops rather than a slice assignment, whose shape checks cost compile time.
    """
    for i in range(n):
        for c in range(src.shape[1]):
            dst[to + i, c] = src[frm + i, c]


@njit(**_JIT)
def _sift_up(h, i):
    """Row `i` moved up to its place among the rows before it."""
    v0, v1, v2, v3, v4 = _read_row(h, i)
    while i > 0:
        parent = (i - 1) >> 1
        if not (v0 < h[parent, 0] or (v0 == h[parent, 0] and v1 < h[parent, 1])):
            break
        _move_row(h, i, parent)
        i = parent
    _write_row(h, i, v0, v1, v2, v3, v4)


@njit(**_JIT)
def heap_remove_first(h, n):
    """Remove the first of the `n` rows of heap `h` (read it before)."""
    n -= 1
    if n > 0:
        v0, v1, v2, v3, v4 = _read_row(h, n)  # the last row, sifted down from the top
        _replace_first(h, n, v0, v1, v2, v3, v4)


@njit(**_JIT)
def _replace_first(h, n, v0, v1, v2, v3, v4):
    """The first of the `n` rows of heap `h` replaced by the row (v0, ..., v4)."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        right = child + 1
        if right < n and (
            h[right, 0] < h[child, 0] or (h[right, 0] == h[child, 0] and h[right, 1] < h[child, 1])
        ):
            child = right
        if not (h[child, 0] < v0 or (h[child, 0] == v0 and h[child, 1] < v1)):
            break
        _move_row(h, i, child)
        i = child
    _write_row(h, i, v0, v1, v2, v3, v4)


# --- draws ------------------------------------------------------------------------------


@njit(**_JIT)
def _next(st, k):
    """The next draw of stream `k` from its buffer (the model refills buffers between calls).

    A stream drawn below its reserve asks for a refill before the next call; an empty
    one marks the run as failed (the model raises), so a draw is never made up.
    """
    pos = st.stream_pos[k]
    if pos >= st.stream_end[k]:
        st.globals_[G_FAILED] = 1
        return 0.0
    st.stream_pos[k] = pos + 1
    if st.stream_end[k] - pos <= RESERVE:
        st.globals_[G_REFILL] = 1
    return st.draws.getitem_unchecked(k)[pos]


@njit(**_JIT)
def take(st, k):
    """The next draw of stream `k`, for a caller outside the kernels (`_next`)."""
    return _next(st, k)


@njit(**_JIT)
def restock(st, k, fresh):
    """Stream `k`'s buffer: the draws it has not yet given, then `fresh`."""
    pos, end = st.stream_pos[k], st.stream_end[k]
    old = st.draws.getitem_unchecked(k)
    buffer = np.empty(end - pos + fresh.size)
    for i in range(end - pos):
        buffer[i] = old[pos + i]
    for i in range(fresh.size):
        buffer[end - pos + i] = fresh[i]
    _keep(st.draw_memory, st.draws, k, buffer)
    st.stream_pos[k], st.stream_end[k] = 0, buffer.size


@njit(**_INLINE)
def _keep(memory, views, i, array):
    """Item `i` is now `array`: held by `memory`, read through a borrowed view in `views`."""
    memory[i] = array
    views[i] = borrowed(array)


# --- the calendar ----------------------------------------------------------------------


@njit(**_INLINE)
def _call_at(st, t, kind, party, other):
    """`Calendar.call_in`: a call at time `t` (the seq breaks ties in push order).

    The calendar never fills: a party has at most one call pending, and a block one
    batch (the model makes room before each block).
    """
    g = st.globals_
    h, n = st.calendar, g[G_CALENDAR]
    h[n, 0], h[n, 1], h[n, 2], h[n, 3], h[n, 4] = t, g[G_SEQ], kind, party, other
    _sift_up(h, n)
    g[G_SEQ] += 1
    g[G_CALENDAR] = n + 1


@njit(**_JIT)
def advance(st, limit):
    """`Calendar.advance`: run every call due strictly before `limit`.

    False if it stopped early for the model to refill the streams (then call again).
    """
    g, h = st.globals_, st.calendar
    while g[G_CALENDAR] > 0 and h[0, 0] < limit:
        if g[G_REFILL] or not _choice_draws_reserved(st, 0):
            return False
        t, kind, party, other = h[0, 0], int(h[0, 2]), int(h[0, 3]), int(h[0, 4])
        g[G_CALLS] += 1
        if kind != CALL_BATCH:
            heap_remove_first(h, g[G_CALENDAR])
            g[G_CALENDAR] -= 1
            if kind == CALL_ARRIVE:
                arrive(st, party, t, t)
            else:
                _done(st, other, party, t, t)
            continue
        # `Calendar._next_of`: the next party of a block's batch. Every call the arrival
        # adds comes after this one (travel times, service draws and extra minutes are
        # not negative: the schema's bounds), which therefore stays first until the next
        # party takes its place (with the seq it would have had, pushed after them).
        i = st.batches[other, 0]
        arrive(st, party, t, t)
        i += 1
        st.batches[other, 0] = i
        if i < st.batches[other, 1]:
            way = st.batch_parties
            seq = g[G_SEQ]
            g[G_SEQ] = seq + 1
            _replace_first(  # as floats, the calendar's type: one compiled signature
                h, g[G_CALENDAR], way[i, 0], float(seq), float(CALL_BATCH), way[i, 1], float(other)
            )
        else:
            heap_remove_first(h, g[G_CALENDAR])
            g[G_CALENDAR] -= 1
    return True


@njit(**_JIT)
def _choice_draws_reserved(st, extra):
    """Whether the divert and retry streams hold what any one call may take from them.

    Reneging settles a whole queue at once, each party drawing at most twice; `extra`
    is what the caller itself may draw.
    """
    need = 2 * st.globals_[G_WAITING] + RESERVE + extra
    divert, retry = st.choice_streams[0], st.choice_streams[1]
    return (
        min(
            st.stream_end[divert] - st.stream_pos[divert],
            st.stream_end[retry] - st.stream_pos[retry],
        )
        >= need
    )


# --- stages (`Stage`) ------------------------------------------------------------------


@njit(**_JIT)
def expected_wait(st, s):
    """`Stage.expected_wait_minutes`."""
    lanes = st.stage_i[s, CAPACITY]
    if lanes <= 0:
        return INF
    return st.stage_i[s, WAITING_UNITS] * st.stage_f[s, MEAN] * st.stage_f[s, MULTIPLIER] / lanes


@njit(**_JIT)
def alternative_waits(st, hours, usable):
    """`Model.alternative_waits`, into `hours` and `usable` (alternative a: stages 2a, 2a + 1)."""
    for a in range(hours.size):
        out, into = 2 * a, 2 * a + 1
        usable[a] = st.stage_i[out, CAPACITY] > 0 and st.stage_i[into, CAPACITY] > 0
        if usable[a]:
            hours[a] = (expected_wait(st, out) + expected_wait(st, into)) / 60.0
        else:
            hours[a] = 0.0


@njit(**_JIT)
def _deadline_due(st, s, now):
    return st.stage_i[s, N_DEADLINES] > 0 and st.deadlines.getitem_unchecked(s)[0, 0] <= now


@njit(**_JIT)
def _queue_add(st, s, p):
    si = st.stage_i
    buf = st.queues.getitem_unchecked(s)
    head, tail = si[s, QUEUE_HEAD], si[s, QUEUE_TAIL]
    if tail == buf.shape[0]:
        if head > buf.shape[0] // 2:
            _copy_rows(buf, 0, buf, head, tail - head)
        else:
            bigger = np.empty((2 * buf.shape[0] + 64, 2), np.int64)
            _copy_rows(bigger, 0, buf, head, tail - head)
            _keep(st.queue_memory, st.queues, s, bigger)
            buf = bigger
        tail -= head
        head = 0
        si[s, QUEUE_HEAD] = 0
    buf[tail, 0], buf[tail, 1] = p, st.parties_i[p, SERIAL]
    si[s, QUEUE_TAIL] = tail + 1


@njit(**_JIT)
def join(st, s, p, now, env_now):
    """`Stage.join`: a party reaches the stage."""
    si, sf, pi = st.stage_i, st.stage_f, st.parties_i
    while si[s, PASS_THROUGH]:  # no control: done at once (a loop, not recursion)
        if not si[s, IS_EXIT]:
            _entry_done(st, p, now, env_now)
            return
        if not _exit_rules_pass(st, p, now):
            return
        s += 1
    if _deadline_due(st, s, now):
        settle(st, s, now, env_now)
    st.parties_f[p, JOINED] = now
    if si[s, BUSY] < si[s, CAPACITY] and si[s, OPEN] and not si[s, WAITING_UNITS]:
        _start(st, s, p, now)
        return
    pi[p, STATE] = WAITING
    pi[p, STAGE] = s
    si[s, JOINED_QUEUE] += 1
    _queue_add(st, s, p)
    sf[s, AREA] += si[s, WAITING_UNITS] * (now - sf[s, SINCE])
    sf[s, SINCE] = now
    si[s, WAITING_UNITS] += 1
    si[s, WAITING_PERSONS] += pi[p, SIZE]
    st.globals_[G_WAITING] += 1
    deadline = st.parties_f[p, DEADLINE]
    if si[s, RENEGES] and deadline < INF:
        si[s, DEADLINE_SEQ] += 1
        _deadline_push(st, s, si[s, N_DEADLINES], deadline, si[s, DEADLINE_SEQ], p, pi[p, SERIAL])
        si[s, N_DEADLINES] += 1
        if si[s, N_DEADLINES] > 2 * si[s, WAITING_UNITS] + COMPACT_SLACK:
            _compact_deadlines(st, s)


@njit(**_JIT)
def _deadline_push(st, s, n, deadline, seq, p, serial):
    """Add (deadline, seq, party, serial) to the `n` deadlines of stage `s` (grown if full)."""
    h = st.deadlines.getitem_unchecked(s)
    if n == h.shape[0]:
        bigger = np.empty((2 * n + 64, 4))
        _copy_rows(bigger, 0, h, 0, n)
        _keep(st.deadline_memory, st.deadlines, s, bigger)
        h = bigger
    h[n, 0], h[n, 1], h[n, 2], h[n, 3] = deadline, seq, p, serial
    _sift_up(h, n)


@njit(**_JIT)
def _still_waiting_here(st, s, p, serial):
    """Whether the party of an entry (its row and serial) still waits at stage `s`."""
    pi = st.parties_i
    return pi[p, SERIAL] == serial and pi[p, STATE] == WAITING and pi[p, STAGE] == s


@njit(**_JIT)
def _compact_deadlines(st, s):
    """`Stage._compact_deadlines`: drop the deadlines of parties no longer waiting here."""
    h, n = st.deadlines.getitem_unchecked(s), st.stage_i[s, N_DEADLINES]
    kept = 0
    for i in range(n):
        if _still_waiting_here(st, s, int(h[i, 2]), int(h[i, 3])):
            _move_row(h, kept, i)
            _sift_up(h, kept)  # the kept rows, rebuilt as a heap in place
            kept += 1
    st.stage_i[s, N_DEADLINES] = kept


@njit(**_JIT)
def settle(st, s, now, env_now):
    """`Stage.settle`: parties whose patience ran out by `now` leave at their deadline."""
    si, sf, pi = st.stage_i, st.stage_f, st.parties_i
    h = st.deadlines.getitem_unchecked(s)  # settling only removes deadlines: the same heap
    while si[s, N_DEADLINES] > 0 and h[0, 0] <= now:
        deadline, p, serial = h[0, 0], int(h[0, 2]), int(h[0, 3])
        heap_remove_first(h, si[s, N_DEADLINES])
        si[s, N_DEADLINES] -= 1
        if not _still_waiting_here(st, s, p, serial):
            continue
        pi[p, STATE] = DONE
        pi[p, STAGE] = -1
        sf[s, AREA] += si[s, WAITING_UNITS] * (deadline - sf[s, SINCE])
        sf[s, SINCE] = deadline
        si[s, WAITING_UNITS] -= 1
        si[s, WAITING_PERSONS] -= pi[p, SIZE]
        st.globals_[G_WAITING] -= 1
        si[s, RENEGED] += 1
        sf[s, RENEGE_WAIT_TOTAL] += deadline - st.parties_f[p, JOINED]
        _leave(st, p, si[s, STAGE_SITE], deadline, env_now, RENEGED_OUT)


@njit(**_JIT)
def fill(st, s, now, env_now):
    """`Stage.fill`: start waiting parties on free lanes."""
    si, sf, pi = st.stage_i, st.stage_f, st.parties_i
    if _deadline_due(st, s, now):
        settle(st, s, now, env_now)
    while si[s, QUEUE_HEAD] < si[s, QUEUE_TAIL] and si[s, OPEN] and si[s, BUSY] < si[s, CAPACITY]:
        queue, head = st.queues.getitem_unchecked(s), si[s, QUEUE_HEAD]
        p = queue[head, 0]
        si[s, QUEUE_HEAD] = head + 1
        if not _still_waiting_here(st, s, p, queue[head, 1]):
            continue
        pi[p, STAGE] = -1
        sf[s, AREA] += si[s, WAITING_UNITS] * (now - sf[s, SINCE])
        sf[s, SINCE] = now
        si[s, WAITING_UNITS] -= 1
        si[s, WAITING_PERSONS] -= pi[p, SIZE]
        st.globals_[G_WAITING] -= 1
        _start(st, s, p, now)


@njit(**_JIT)
def _start(st, s, p, now):
    """`Stage._start`: service begins; its end is a call."""
    si, sf, pi = st.stage_i, st.stage_f, st.parties_i
    pi[p, STATE] = IN_SERVICE
    si[s, BUSY] += 1
    si[s, BUSY_PERSONS] += pi[p, SIZE]
    si[s, SERVED] += 1
    sf[s, WAIT_TOTAL] += now - st.parties_f[p, JOINED]
    delay = _next(st, si[s, STREAM])
    delay = delay * sf[s, MULTIPLIER]
    if si[s, IS_EXIT]:
        site = si[s, STAGE_SITE]
        counts = st.counts
        for slot in range(st.site_rules.shape[1]):
            r = st.site_rules[site, slot]
            if r < 0:
                break
            extra = st.rules_f[r, EXTRA_MINUTES]
            if extra != 0.0 and counts[p, st.rules_i[r, ATTRIBUTE]]:
                delay += extra
    _call_at(st, now + delay, CALL_DONE, p, s)


@njit(**_INLINE)
def _done(st, s, p, now, env_now):
    """`Stage._done`: a lane is free again."""
    si = st.stage_i
    si[s, BUSY] -= 1
    si[s, BUSY_PERSONS] -= st.parties_i[p, SIZE]
    _stage_done(st, s, p, now, env_now)
    if si[s, QUEUE_HEAD] < si[s, QUEUE_TAIL]:
        fill(st, s, now, env_now)


@njit(**_INLINE)
def _stage_done(st, s, p, now, env_now):
    """`Site.exit_done` (screening, then the entry queue) or `Site.entry_done`."""
    if not st.stage_i[s, IS_EXIT]:
        _entry_done(st, p, now, env_now)
    elif _exit_rules_pass(st, p, now):
        join(st, s + 1, p, now, env_now)


@njit(**_JIT)
def set_open(st, s, is_open, now):
    """`Stage.set_open`."""
    st.stage_i[s, OPEN] = is_open
    if is_open:
        fill(st, s, now, now)


@njit(**_JIT)
def set_capacity(st, s, lanes, now):
    """`Stage.set_capacity`."""
    st.stage_i[s, CAPACITY] = lanes
    fill(st, s, now, now)


# --- checkpoints (`Site`) ----------------------------------------------------------------


@njit(**_INLINE)
def _hour_of(t):
    """``int(t // 60.0)``, Python's exact floor, without its fmod (t is finite, under 2**47)."""
    q = np.floor(t / 60.0)  # the rounded quotient may land one off the exact floor
    if q * 60.0 > t:
        q -= 1.0
    elif (q + 1.0) * 60.0 <= t:
        q += 1.0
    return int(q)


@njit(**_JIT)
def _hour(st, t):
    """`Monitor.hour`: the horizon end falls in the last bin."""
    h = _hour_of(t)
    n = st.flows.shape[2]
    return h if h < n else n - 1


@njit(**_INLINE)
def _count(st, metric, site, persons, t):
    st.flows[metric, site, _hour(st, t)] += persons


@njit(**_JIT)
def _selects(st, r, profile, mode):
    ri = st.rules_i
    modes = ri[r, MODES]
    if modes != ALL_MODES and not (modes >> mode) & 1:
        return False
    return (profile & ri[r, WITH]) == ri[r, WITH] and not profile & ri[r, WITHOUT]


@njit(**_JIT)
def _stopped(st, site, p):
    """Any rule in force that stops the party before the checkpoint (`Rule.stops`)."""
    pi = st.parties_i
    for slot in range(st.site_rules.shape[1]):
        r = st.site_rules[site, slot]
        if r < 0:
            break
        if not st.rules_i[r, STOPS]:
            continue
        if not _selects(st, r, pi[p, PROFILE], st.alt_mode[pi[p, ALT]]):
            continue
        compliance = st.rules_f[r, COMPLIANCE]
        if compliance >= 1.0 or _next(st, st.rules_i[r, RULE_STREAM]) < compliance:
            return True
    return False


@njit(**_INLINE)
def arrive(st, p, now, env_now):
    """`Site.arrive`: access check, balking, then the exit queue."""
    pi, pf = st.parties_i, st.parties_f
    alt = pi[p, ALT]
    site = st.alt_site[alt]
    st.flows[ARRIVALS, site, _hour_of(now)] += pi[p, SIZE]
    pi[p, SITE] = site
    pf[p, ARRIVED] = now
    if st.site_rules[site, 0] >= 0 and _stopped(st, site, p):
        _leave(st, p, site, now, env_now, TURNED_BACK)
        return
    s = 2 * alt
    commitment = st.commitment[site, pi[p, ORIGIN]]
    if pf[p, BALK] < INF:
        if _deadline_due(st, s, now):
            settle(st, s, now, env_now)
        if expected_wait(st, s) > pf[p, BALK] * commitment:
            _leave(st, p, site, now, env_now, BALKED)
            return
    pf[p, DEADLINE] = now + pf[p, PATIENCE] * commitment
    join(st, s, p, now, env_now)


@njit(**_INLINE)
def _apply(st, p, site, now, exiting):
    """`Site._apply`: turn-backs after exit, refusals after entry; False if nobody is left."""
    pi, counts = st.parties_i, st.counts
    ri, rf = st.rules_i, st.rules_f
    for slot in range(st.site_rules.shape[1]):
        r = st.site_rules[site, slot]
        if r < 0:
            break
        removed = 0
        a = ri[r, ATTRIBUTE]
        if exiting and ri[r, SCREENS]:  # `Rule.on_exit`
            held = counts[p, a]
            share, g = rf[r, TURN_BACK_SHARE], ri[r, RULE_STREAM]
            for _ in range(held):
                if _next(st, g) < share:
                    removed += 1
            counts[p, a] = held - removed
        elif not exiting and ri[r, REFUSES]:  # `Rule.on_entry`
            held = counts[p, a]
            if held:
                counts[p, a] = 0
                removed = pi[p, SIZE] if ri[r, WHOLE_PARTY] else held
        if removed:
            removed = min(removed, pi[p, SIZE])
            _count(st, TURNED_BACK if exiting else REFUSALS, site, removed, now)
            pi[p, SIZE] -= removed
            if pi[p, SIZE] <= 0:
                _finish(st, p)
                return False
    return True


@njit(**_JIT)
def _exit_rules_pass(st, p, now):
    """The screening of `Site.exit_done`: False if nobody of the party is left."""
    site = st.parties_i[p, SITE]
    return st.site_rules[site, 0] < 0 or _apply(st, p, site, now, True)


@njit(**_JIT)
def _entry_done(st, p, now, env_now):
    """`Site.entry_done`: refusals, then admission and the later departure."""
    pi = st.parties_i
    site = pi[p, SITE]
    if st.site_rules[site, 0] >= 0 and not _apply(st, p, site, now, False):
        return
    h = _hour_of(now)
    size = pi[p, SIZE]
    st.flows[ENTRIES, site, h] += size
    wait_hours = (now - st.parties_f[p, ARRIVED]) / 60.0
    st.wait_sums[site, h] += size * wait_hours
    if st.alt_by_car[pi[p, ALT]]:
        st.car_entries[site, h] += size
        st.car_waits[site, h] += size * wait_hours
    edge = np.searchsorted(st.wait_edges, wait_hours, side="right") - 1
    st.histogram[site, h // 24, edge] += size
    if st.site_departures[site] >= 0:
        _depart(st, p, site, now)
    _finish(st, p)


@njit(**_JIT)
def _depart(st, p, site, now):
    """`CountryDepartures.__call__`: count the departure in the hour it will happen."""
    c = st.site_departures[site]
    u = _next(st, st.route_stream[c, 0])
    shares = st.route_surge[c] if st.parties_i[p, SURGE] else st.route_normal[c]
    n = st.route_count[c]
    i = 0
    while i < n and shares[i] <= u:
        i += 1
    if i < n:
        hour = _hour_of(now + _next(st, st.route_stream[c, 1 + i]))
        if hour < st.flows.shape[2]:
            where = st.route_site[c, i]
            st.flows[DEPARTURES, site if where < 0 else where, hour] += st.parties_i[p, SIZE]


# --- party rows ------------------------------------------------------------------------


@njit(**_INLINE)
def _new_row(st):
    """A row for a new party: the last freed, else the next never used (the model made room)."""
    g = st.globals_
    if g[G_FREE] > 0:
        g[G_FREE] -= 1
        return st.free_rows[g[G_FREE]]
    p = g[G_ROWS]
    g[G_ROWS] = p + 1
    return p


@njit(**_INLINE)
def _finish(st, p):
    """The party is done: its row is free for a later party (nothing is pending for it)."""
    g = st.globals_
    st.parties_i[p, STATE] = DONE
    st.free_rows[g[G_FREE]] = p
    g[G_FREE] += 1


# --- choice and travel (`Model`, `Chooser`) ----------------------------------------------


@njit(**_JIT)
def _rechoose(st, p):
    """`Chooser.rechoose`: choose again without the checkpoints the party tried."""
    pi = st.parties_i
    o, k = pi[p, ORIGIN], pi[p, KLASS]
    n = st.row_length[o, k]
    if n == 0:
        return NO_CHOICE
    start = st.row_start[o, k]
    kind = pi[p, INFORMED] + 2 * pi[p, SURGE]
    weights = st.weights
    tried = pi[p, TRIED]
    cumulative = np.empty(n)
    total = 0.0
    for j in range(n):
        a = st.row_alt[start + j]
        if not (tried >> st.alt_site[a]) & 1:
            total += weights[kind, pi[p, PROFILE], start + j]
        cumulative[j] = total
    if total <= 0.0:
        return NO_CHOICE
    x = _next(st, st.choice_streams[1]) * total
    local = np.searchsorted(cumulative, x, side="right")
    return st.row_alt[start + min(local, n - 1)]


@njit(**_JIT)
def _send(st, p, alt, t, env_now):
    """`Model._send`: set off for another alternative, arriving after the travel time."""
    pi = st.parties_i
    site = st.alt_site[alt]
    pi[p, ALT] = alt
    pi[p, STATE] = TRAVELLING
    arrival = t + st.travel[pi[p, ORIGIN], site]
    _call_at(st, env_now + (arrival - env_now if arrival > env_now else 0.0), CALL_ARRIVE, p, 0)


@njit(**_INLINE)
def _leave(st, p, site, now, env_now, reason):
    """`Model._leave`: divert to another border, or go home."""
    pi = st.parties_i
    if _next(st, st.choice_streams[0]) < st.params[0]:
        pi[p, TRIED] |= 1 << site
        alt = _rechoose(st, p)
        if alt != NO_CHOICE:
            _count(st, DIVERTED, site, pi[p, SIZE], now)
            _send(st, p, alt, now, env_now)
            return
    _count(st, reason, site, pi[p, SIZE], now)
    _finish(st, p)


@njit(**_INLINE)
def dispatch(
    st,
    origin,
    klass,
    now,
    order,
    times,
    sizes,
    counts,
    profiles,
    informed,
    balk,
    patience,
    surge,
    chosen,
    deters,
):
    """`Model._dispatch`: count a batch's parties out and put each on its way.

    The j-th party in order of setting out is party ``order[j]`` of the other arrays (as
    drawn), whose choice is ``chosen[j]``.
    """
    n_hours = st.flows.shape[2]
    g, pi, pf, origin_flows = st.globals_, st.parties_i, st.parties_f, st.origin_flows
    for j in range(order.shape[0]):
        i = order[j]
        t = times[i]
        h = min(_hour_of(t), n_hours - 1)
        size = sizes[i]
        origin_flows[0, origin, h] += size
        p = _new_row(st)  # the model made room for the block's parties
        pi[p, SERIAL] = g[G_PARTIES]
        g[G_PARTIES] += 1
        pi[p, ORIGIN], pi[p, KLASS], pi[p, SIZE] = origin, klass, size
        pi[p, PROFILE], pi[p, INFORMED], pi[p, SURGE] = profiles[i], informed[i], surge[i]
        pi[p, SITE], pi[p, STATE], pi[p, STAGE], pi[p, TRIED] = -1, TRAVELLING, -1, 0
        for a in range(counts.shape[1]):
            st.counts[p, a] = counts[i, a]
        pf[p, BALK], pf[p, PATIENCE], pf[p, DEADLINE] = balk[i], patience[i], INF
        alt = chosen[j]
        if deters and alt != NO_CHOICE and informed[i]:
            first = alt
            while True:  # `Model._after_deterrence`
                d = st.deterred[profiles[i], alt]
                if not (d > 0 and _next(st, st.choice_streams[1]) < d):
                    break
                pi[p, TRIED] |= 1 << st.alt_site[alt]
                alt = _rechoose(st, p)
                if alt == NO_CHOICE:
                    break
            if alt != first and alt != NO_CHOICE:
                _send(st, p, alt, t, now)
                continue
        if alt == NO_CHOICE:
            origin_flows[1, origin, h] += size
            _finish(st, p)
            continue
        pi[p, ALT] = alt
        due = now + (t + st.travel[origin, st.alt_site[alt]] - now)
        n = g[G_ON_WAY]
        st.on_way[n, 0] = due
        st.on_way[n, 1] = p
        g[G_ON_WAY] = n + 1


@njit(**_JIT)
def launch(st):
    """`Calendar.call_each`: the block's parties, in order of arrival, as one batch."""
    g = st.globals_
    n = g[G_ON_WAY]
    if n == 0:
        return
    way = st.on_way[:n]
    # a C-ordered copy, so that the sort is the one `sources` compiles; stable: ties keep
    # their order
    order = np.argsort(way[:, 0].copy(), kind="mergesort")
    start = g[G_BATCH_FILL]
    rows = st.batch_parties
    for j in range(n):
        _copy_rows(rows, start + j, way, order[j], 1)
    b = g[G_BATCHES]
    st.batches[b, 0], st.batches[b, 1] = start, start + n
    g[G_BATCHES] = b + 1
    g[G_BATCH_FILL] = start + n
    g[G_ON_WAY] = 0
    _call_at(st, rows[start, 0], CALL_BATCH, int(rows[start, 1]), b)


# --- observation ---------------------------------------------------------------------------


@njit(**_JIT)
def snapshot(st, now, out):
    """`Site.queue_snapshot` for every site: out[site] = (vehicles, km, persons)."""
    si, sf = st.stage_i, st.stage_f
    out[:] = 0.0
    for s in range(si.shape[0]):
        if si[s, RENEGES]:
            settle(st, s, now, now)
        site = si[s, STAGE_SITE]
        out[site, 2] += si[s, WAITING_PERSONS]
        space = sf[s, SPACE_M]
        if space > 0:
            out[site, 0] += si[s, WAITING_UNITS]
            out[site, 1] += si[s, WAITING_UNITS] * space / 1000.0


@njit(**_JIT)
def in_transit(st):
    """Persons on their way to a checkpoint: pending arrivals and the rest of each batch."""
    pi = st.parties_i
    cal = st.calendar
    total = 0
    for j in range(st.globals_[G_CALENDAR]):
        kind, p = int(cal[j, 2]), int(cal[j, 3])
        if kind == CALL_ARRIVE and pi[p, STATE] == TRAVELLING:
            total += pi[p, SIZE]
        elif kind == CALL_BATCH:
            b = int(cal[j, 4])
            for i in range(st.batches[b, 0], st.batches[b, 1]):
                q = int(st.batch_parties[i, 1])
                if pi[q, STATE] == TRAVELLING:
                    total += pi[q, SIZE]
    return total


@njit(**_JIT)
def still_waiting_minutes(st, s, horizon):
    """Minutes waited so far by the parties still in the queue of stage `s`."""
    total = 0.0
    buf = st.queues.getitem_unchecked(s)
    pf = st.parties_f
    for i in range(st.stage_i[s, QUEUE_HEAD], st.stage_i[s, QUEUE_TAIL]):
        p = buf[i, 0]
        if _still_waiting_here(st, s, p, buf[i, 1]):
            total += horizon - pf[p, JOINED]
    return total


# --- the model replaces arrays it grows ----------------------------------------------------


@njit(**_JIT)
def replace_parties(st, parties_i, parties_f, counts, free_rows, calendar):
    """Larger party and calendar arrays (the first rows copied)."""
    st.parties_i, st.parties_f, st.counts = borrowed((parties_i, parties_f, counts))
    st.free_rows, st.calendar = borrowed(free_rows), borrowed(calendar)


@njit(**_JIT)
def replace_blocks(st, on_way, batch_parties):
    """Larger arrays of parties on their way."""
    st.on_way, st.batch_parties = borrowed((on_way, batch_parties))


@njit(**_JIT)
def add_stream(st, stream_pos, stream_end):
    """A stream added after the state was built: its empty buffer, and the longer positions."""
    buffer = np.zeros(0)
    st.draw_memory.append(buffer)
    st.draws.append(borrowed(buffer))
    st.stream_pos, st.stream_end = borrowed((stream_pos, stream_end))


# --- building the state ----------------------------------------------------------------


@njit(**_JIT)
def new_state(arrays, n_stages, n_streams):
    """The `State` over `arrays` (an `Arrays` as a plain tuple), its lists empty."""
    queues, deadlines, draws = List(), List(), List()
    queue_memory, deadline_memory, draw_memory = List(), List(), List()
    for _ in range(n_stages):
        queue = np.zeros((64, 2), np.int64)
        queue_memory.append(queue)
        queues.append(borrowed(queue))
        heap = np.zeros((64, 4))
        deadline_memory.append(heap)
        deadlines.append(borrowed(heap))
    for _ in range(n_streams):
        buffer = np.zeros(0)
        draw_memory.append(buffer)
        draws.append(borrowed(buffer))
    return State(
        *borrowed(arrays), queues, deadlines, draws, queue_memory, deadline_memory, draw_memory
    )


def _check_cache() -> None:
    """Delete unreadable cache files before any kernel loads (`cache.discard_unreadable`)."""
    folder = cache_folder(advance)
    if folder is not None and folder.is_dir():
        discard_unreadable(folder)


_check_cache()

"""The compiled engine's state: every party, stage, rule and counter as columns of arrays.

Column names are module constants, so the kernels read ``parties_i[p, STATE]`` the way
the reference engine reads ``party.state``. The model holds them as `Arrays` and hands
the kernels a `State` (a numba structref over the same arrays); it makes room for each
block's parties before the kernels see them. A party's row is free again once the
party is done, so memory follows the parties under way, not all who have passed; a
queue or deadline entry names the party by row and serial (`SERIAL`, its number among
all parties set out), so an entry left behind by a done party never matches the next
party in its row. Each stage's queue and deadline heap can grow inside a kernel, and
each stream's buffer is restocked between calls, so they sit in typed lists that only
the state holds (`kernel.new_state` builds them).

The kernels read every array through a borrowed view (`borrow`), which costs no
reference count: the model's `Arrays` keep the arrays alive, and the `*_memory` lists
the ones the state holds alone.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import types
from numba.experimental import structref

# --- parties: int columns, float columns, and `counts` [party, attribute] -------------
ORIGIN, KLASS, SIZE, PROFILE, INFORMED, SURGE, SITE, ALT, STATE, STAGE, TRIED, SERIAL = range(12)
N_PARTY_INT = 12
ARRIVED, JOINED, DEADLINE, BALK, PATIENCE = range(5)
N_PARTY_FLOAT = 5

# --- stages (stage 2a is the exit stage of alternative a, 2a + 1 its entry stage) -----
(
    CAPACITY,
    OPEN,
    BUSY,
    BUSY_PERSONS,
    WAITING_UNITS,
    WAITING_PERSONS,
    JOINED_QUEUE,
    SERVED,
    RENEGED,
    PASS_THROUGH,
    RENEGES,
    IS_EXIT,
    STAGE_SITE,
    STREAM,
    QUEUE_HEAD,
    QUEUE_TAIL,
    N_DEADLINES,
    DEADLINE_SEQ,
) = range(18)
N_STAGE_INT = 18
MEAN, MULTIPLIER, AREA, SINCE, WAIT_TOTAL, RENEGE_WAIT_TOTAL, SPACE_M = range(7)
N_STAGE_FLOAT = 7

# --- rules (rows in installation order; a site lists the rows in force) ---------------
STOPS, MODES, WITH, WITHOUT, ATTRIBUTE, SCREENS, REFUSES, WHOLE_PARTY, RULE_STREAM = range(9)
N_RULE_INT = 9
COMPLIANCE, TURN_BACK_SHARE, EXTRA_MINUTES = range(3)
N_RULE_FLOAT = 3
ALL_MODES = -1

# --- globals ---------------------------------------------------------------------------
(
    G_SEQ,
    G_PARTIES,
    G_CALLS,
    G_CALENDAR,
    G_ON_WAY,
    G_BATCH_FILL,
    G_BATCHES,
    G_WAITING,
    G_REFILL,
    G_FAILED,
    G_ROWS,
    G_FREE,
) = range(12)
N_GLOBALS = 12
#: draws a stream keeps in reserve beyond what one call can take (see `kernel._next`)
RESERVE = 4096
#: calendar rows: (time, seq, kind, party, stage-or-batch)
CALL_ARRIVE, CALL_DONE, CALL_BATCH = range(3)

# --- party states and outcomes (as in the reference engine) ---------------------------
WAITING, IN_SERVICE, DONE, TRAVELLING = range(4)
NO_CHOICE = -1
#: flow metrics, in the order of `flowsim.monitor.FLOW_METRICS`
ARRIVALS, ENTRIES, REFUSALS, TURNED_BACK, BALKED, RENEGED_OUT, DIVERTED, DEPARTURES = range(8)
#: stale deadlines tolerated beyond the queue's length before they are dropped
COMPACT_SLACK = 256


class Arrays(NamedTuple):
    """Everything the kernels read and write for one replication, as the model holds it."""

    globals_: np.ndarray  #: int64 [N_GLOBALS]
    params: np.ndarray  #: float64 [divert share, hours in the horizon]
    choice_streams: np.ndarray  #: int64 [divert, retry]: their stream numbers
    stream_pos: np.ndarray  #: int64 [stream]: next draw in its buffer
    stream_end: np.ndarray  #: int64 [stream]: draws in its buffer
    parties_i: np.ndarray  #: int64 [capacity, N_PARTY_INT]: a row per party under way
    parties_f: np.ndarray  #: float64 [capacity, N_PARTY_FLOAT]
    counts: np.ndarray  #: int64 [capacity, attributes]
    free_rows: np.ndarray  #: int64 [capacity]: party rows free again, a stack
    calendar: np.ndarray  #: float64 [capacity, 5], a binary heap on (time, seq)
    on_way: np.ndarray  #: float64 [capacity, 2]: (due, party) of the block being drawn
    batch_parties: np.ndarray  #: float64 [capacity, 2]: (due, party) of every block, in order
    batches: np.ndarray  #: int64 [block, 2]: next and end row in `batch_parties`
    stage_i: np.ndarray
    stage_f: np.ndarray
    rules_i: np.ndarray
    rules_f: np.ndarray
    site_rules: np.ndarray  #: int64 [site, rule slot]: rows in force, -1 after the last
    commitment: np.ndarray  #: float64 [site, origin]
    travel: np.ndarray  #: float64 [origin, site] minutes
    alt_site: np.ndarray
    alt_mode: np.ndarray  #: mode number of each alternative
    alt_by_car: np.ndarray  #: bool: the alternative's mode is "car"
    weights: np.ndarray  #: float64 [surge * 2 + informed, profile, row alternative]
    deterred: np.ndarray  #: float64 [profile, alternative]
    row_start: np.ndarray  #: int64 [origin, class]: first row alternative
    row_length: np.ndarray
    row_alt: np.ndarray  #: int64 [row alternative]: alternative index
    site_departures: np.ndarray  #: int64 [site]: its country's departure table, or -1
    route_normal: np.ndarray  #: float64 [country, route]: cumulative shares
    route_surge: np.ndarray
    route_count: np.ndarray  #: int64 [country]
    route_site: np.ndarray  #: int64 [country, route]: where counted (-1: at entry)
    route_stream: np.ndarray  #: int64 [country, 1 + route]: route draw, then stays
    flows: np.ndarray  #: int64 [metric, site, hour]
    wait_sums: np.ndarray  #: float64 [site, hour]
    car_entries: np.ndarray
    car_waits: np.ndarray
    histogram: np.ndarray  #: int64 [site, day, bin]
    origin_flows: np.ndarray  #: int64 [set out | stayed home, origin, hour]
    wait_edges: np.ndarray


#: the state's typed lists, after the `Arrays` fields:
#: queues: per stage, int64 [capacity, 2] (party row, serial), a FIFO from QUEUE_HEAD to
#: QUEUE_TAIL;
#: deadlines: per stage, float64 [capacity, 4] heap of (deadline, seq, party row, serial);
#: draws: per stream, float64 buffer of its next draws;
#: then the same three lists' arrays themselves (the first three hold borrowed views)
LISTS = ("queues", "deadlines", "draws", "queue_memory", "deadline_memory", "draw_memory")


@structref.register
class StateType(types.StructRef):
    """Numba's type of `State`."""

    def preprocess_fields(self, fields):
        """Fields typed by their values, not as literals."""
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class State(structref.StructRefProxy):
    """The kernels' handle on `Arrays` and the `LISTS`: one pointer, however many arrays.

    Built inside a compiled function (`kernel.new_state`), so its constructor is cached
    with the kernels rather than compiled again in every process. (A tuple of arrays is
    passed to a compiled function field by field: with forty arrays, that cost every
    call hundreds of nanoseconds.)
    """


structref.define_proxy(State, StateType, [*Arrays._fields, *LISTS])

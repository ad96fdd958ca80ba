"""Who sets out and when: arrival rates per origin and party class, and batches of parties.

Travellers set out as a non-homogeneous Poisson process per (origin, class): the
baseline (normal traffic, with weekday and hour-of-day factors and dated changes) plus
the national surge (piecewise linear between knots) times the origin's share. Rates are
integrated exactly on a quarter-hour grid (knots on quarter hours are exact) and
summed into decision blocks; each block draws its parties in one vectorised batch,
from streams positioned per block and per party (`BlockStream`), so that a change of
the expected count of one block leaves every other party as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from flowsim.distributions import Distribution, continuous, party_size
from flowsim.scenario.schema import Scenario
from flowsim.streams import BlockStream, Streams
from flowsim.timebase import Clock, zone

STEP_MINUTES = 15.0
#: a source's random streams, one per purpose (the compiled engine indexes them in this order)
PURPOSES = (
    "count",
    "time",
    "surge",
    "size",
    "attributes",
    "informed",
    "choice",
    "balk",
    "patience",
)


def step_midpoints(clock: Clock) -> np.ndarray:
    """Simulation minutes of the midpoints of the quarter-hour integration steps."""
    n = int(np.ceil(clock.horizon_minutes / STEP_MINUTES))
    return (np.arange(n) + 0.5) * STEP_MINUTES


def surge_per_day(scenario: Scenario, clock: Clock, minutes: np.ndarray) -> np.ndarray:
    """National surge in persons per day at the given simulation minutes (0 outside knots)."""
    knots = scenario.demand.surge
    if not knots:
        return np.zeros_like(minutes)
    xs = np.array([clock.minutes(k.at) for k in knots])
    ys = np.array([k.per_day for k in knots])
    return np.interp(minutes, xs, ys, left=0.0, right=0.0)


def normal_factor(scenario: Scenario, clock: Clock, minutes: np.ndarray) -> np.ndarray:
    """Multiplier of normal traffic at the given simulation minutes (`demand.normal_traffic`)."""
    changes = scenario.demand.normal_traffic
    factor = np.ones_like(minutes)
    for change in changes:  # in time order: each holds until the next
        factor[minutes >= clock.minutes(change.at)] = change.factor
    return factor


def _local_factors(
    scenario: Scenario, clock: Clock, minutes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weekday and hour-of-day factors at each time, in the demand's time zone."""
    tz = zone(scenario.demand.timezone)
    start = clock.start.astimezone(dt.UTC)
    local = [(start + dt.timedelta(minutes=float(m))).astimezone(tz) for m in minutes]
    weekday = np.array([lt.weekday() for lt in local])
    hour = np.array([lt.hour for lt in local])
    hourly = np.asarray(scenario.demand.hourly_factors, dtype=float)
    mean_hourly = hourly.mean()
    hourly = hourly / mean_hourly if mean_hourly > 0 else np.ones(24)
    return np.asarray(scenario.demand.weekday_factors, dtype=float)[weekday], hourly[hour]


def class_shares(scenario: Scenario, origin: str) -> dict[str, float]:
    """Share of the origin's persons travelling in each party class."""
    spec = scenario.demand.origins[origin]
    if spec.class_shares is not None:
        return {k: spec.class_shares.get(k, 0.0) for k in scenario.demand.classes}
    return {k: c.share for k, c in scenario.demand.classes.items()}


def persons_per_step(scenario: Scenario, clock: Clock) -> np.ndarray:
    """Expected persons setting out per quarter-hour step: array [baseline|surge, origin, step]."""
    mids = step_midpoints(clock)
    weekday, hourly = _local_factors(scenario, clock, mids)
    surge = surge_per_day(scenario, clock, mids)
    normal = weekday * hourly * normal_factor(scenario, clock, mids) * (STEP_MINUTES / 1440.0)
    day_fraction = STEP_MINUTES / 1440.0
    origins = scenario.demand.origins.values()
    baseline = [o.baseline_per_day * normal for o in origins]
    surged = [o.surge_share * surge * hourly * day_fraction for o in origins]
    return np.array([baseline, surged])


def expected_parties(scenario: Scenario, clock: Clock, block_minutes: float) -> np.ndarray:
    """Expected parties per decision block: array [baseline|surge, origin, class, block]."""
    per_step = persons_per_step(scenario, clock)
    steps_per_block = round(block_minutes / STEP_MINUTES)
    n_steps = per_step.shape[-1]
    n_blocks = int(np.ceil(n_steps / steps_per_block))
    padded = np.zeros((*per_step.shape[:2], n_blocks * steps_per_block))
    padded[..., :n_steps] = per_step
    per_block = padded.reshape(*per_step.shape[:2], n_blocks, steps_per_block).sum(axis=-1)
    classes = list(scenario.demand.classes)
    out = np.zeros((2, len(scenario.demand.origins), len(classes), n_blocks))
    for i, origin in enumerate(scenario.demand.origins):
        shares = class_shares(scenario, origin)
        for j, name in enumerate(classes):
            mean_size = party_size(scenario.demand.classes[name].party_size).mean
            out[:, i, j] = per_block[:, i] * shares[name] / mean_size
    return out


@dataclass(slots=True)
class PartyBatch:
    """Parties of one (origin, class) setting out in one block, as parallel arrays."""

    times: np.ndarray
    sizes: np.ndarray
    counts: np.ndarray  # [party, attribute] persons holding each attribute
    profiles: np.ndarray
    informed: np.ndarray
    surge: np.ndarray  #: part of the surge rather than normal traffic
    choice_u: np.ndarray
    balk_minutes: np.ndarray
    patience_minutes: np.ndarray


class PartySource:
    """Draws the parties of one (origin, class), block by block, from its own streams."""

    def __init__(self, scenario: Scenario, origin: str, klass: str, streams: Streams) -> None:
        prefix = f"demand/{origin}/{klass}"
        #: per purpose, its stream (the compiled engine draws from copies of them)
        self.streams = {
            purpose: BlockStream(streams.generator(f"{prefix}/{purpose}")) for purpose in PURPOSES
        }
        self.size: Distribution = party_size(scenario.demand.classes[klass].party_size)
        choice = scenario.demand.choice
        self.balk = continuous(choice.balk_hours, scale=60.0) if choice.balk_hours else None
        self.patience = (
            continuous(choice.patience_hours, scale=60.0) if choice.patience_hours else None
        )
        self.informed_share = choice.informed_share
        overrides = scenario.demand.origins[origin].attribute_shares
        names = list(scenario.attributes)
        #: per attribute: (share in normal traffic, in the surge, per person, given's index)
        self.attributes = [
            (
                overrides.get(name, spec.share),
                overrides.get(name, spec.share if spec.surge_share is None else spec.surge_share),
                spec.per == "person",
                names.index(spec.given) if spec.given else -1,
            )
            for name, spec in scenario.attributes.items()
        ]
        self._bit_values = np.int64(1) << np.arange(len(names), dtype=np.int64)

    def _no_parties(self) -> PartyBatch:
        empty, flags = np.empty(0), np.empty(0, dtype=bool)
        whole = np.empty(0, dtype=np.int64)
        return PartyBatch(
            times=empty,
            sizes=whole,
            counts=np.empty((0, len(self.attributes)), dtype=np.int64),
            profiles=whole,
            informed=flags,
            surge=flags,
            choice_u=empty,
            balk_minutes=empty,
            patience_minutes=empty,
        )

    def draw(self, block: int, baseline: float, surge: float, t0: float, t1: float) -> PartyBatch:
        """Parties setting out in block ``[t0, t1)`` given the expected baseline and surge parties.

        Party ``i`` of a block draws the ``i``-th number of each stream, whatever the
        block's count; the parties are then put in order of their times.
        """
        expected = baseline + surge
        n = int(self.streams["count"].at(block).poisson(expected)) if expected > 0 else 0
        if n == 0:  # a fifth of the blocks: skip positioning the other streams
            return self._no_parties()
        rng = {
            purpose: stream.at(block)
            for purpose, stream in self.streams.items()
            if purpose != "count"
        }
        times = rng["time"].uniform(t0, t1, n)
        is_surge = rng["surge"].random(n) * expected < surge
        sizes = self.size.sample(rng["size"], n)
        counts = np.zeros((n, len(self.attributes)), dtype=np.int64)
        for i, (base_share, surge_share, per_person, given) in enumerate(self.attributes):
            if base_share == surge_share == 0.0:
                continue  # nobody holds it: no draws (each part has its own stream position)
            attr_rng = self.streams["attributes"].at(block, part=i)
            # One share for all, where normal and surge traffic agree: the same draws.
            share = (
                base_share
                if base_share == surge_share
                else np.where(is_surge, surge_share, base_share)
            )
            if per_person:
                held = attr_rng.binomial(sizes, share)
            else:
                held = np.where(attr_rng.random(n) < share, sizes, 0)
            if given >= 0:
                held = np.where(counts[:, given] > 0, held, 0)
            counts[:, i] = held
        order = np.argsort(times, kind="stable")
        return PartyBatch(
            times=times[order],
            sizes=sizes[order],
            counts=counts[order],
            profiles=((counts > 0) @ self._bit_values)[order],
            informed=(rng["informed"].random(n) < self.informed_share)[order],
            surge=is_surge[order],
            choice_u=rng["choice"].random(n)[order],
            balk_minutes=(self.balk.sample(rng["balk"], n) if self.balk else np.full(n, np.inf))[
                order
            ],
            patience_minutes=(
                self.patience.sample(rng["patience"], n) if self.patience else np.full(n, np.inf)
            )[order],
        )

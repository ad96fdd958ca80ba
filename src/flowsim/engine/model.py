"""Building and running one replication: the SimPy environment, the sites, demand, choice.

The `Model` is the hook API that policies use: `at` schedules a call at a datetime,
`site`/`sites_of` give checkpoints (with `add_rule`, `close`, `reopen` and their
stages' `set_capacity`), `attribute_index` and `uniform` give what rules need.
The engine never names a policy type.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import simpy
from simpy.events import NORMAL, URGENT

from flowsim.demand import PartySource, expected_parties
from flowsim.distributions import continuous
from flowsim.engine.calendar import Calendar
from flowsim.engine.checkpoint import Site, Stage
from flowsim.engine.choice import NO_CHOICE, Chooser
from flowsim.engine.departures import CountryDepartures
from flowsim.engine.traveller import DONE, TRAVELLING, WAITING, Party
from flowsim.monitor import STOCK_METRICS, Monitor
from flowsim.scenario.schema import Scenario, Targets
from flowsim.streams import Draws, Streams, buffered
from flowsim.timebase import Clock, local_time_of_day_minutes, zone

#: A block's parties on their way: when each reaches its checkpoint, the checkpoint's
#: `arrive`, and the party (parallel lists, in the order the parties were drawn).
_OnTheirWay = tuple[list[float], list[Callable[[Party, float], None]], list[Party]]


class _Call(simpy.events.Event):
    """An event that calls `fn` at a time, before (urgent) or with ordinary events.

    Built like `simpy.Timeout`, which can only be scheduled with normal priority.
    """

    def __init__(
        self, env: simpy.Environment, delay: float, fn: Callable[[], None], urgent: bool
    ) -> None:
        self.env = env
        self.callbacks = [lambda _event: fn()]
        self._value = None
        self._ok = True
        env.schedule(self, URGENT if urgent else NORMAL, delay)


@dataclass(frozen=True, slots=True)
class StageStats:
    """Totals of one stage over a replication, for queueing-law checks."""

    checkpoint: str
    mode: str
    stage: str
    joined_queue: int
    served: int
    wait_minutes_served: float
    reneged: int
    wait_minutes_reneged: float
    wait_minutes_still_waiting: float
    queue_area: float


@dataclass(frozen=True, slots=True)
class Aggregates:
    """Everything one replication produces (arrays indexed by site, origin, hour)."""

    flows: np.ndarray  #: [flow metric, site, hour] persons
    wait_person_hours: np.ndarray  #: [site, hour]
    car_entries: np.ndarray  #: [site, hour] persons admitted by car
    car_wait_person_hours: np.ndarray  #: [site, hour] hours they waited
    wait_histogram: np.ndarray  #: [site, simulated day, wait bin] persons admitted
    stocks: np.ndarray  #: [stock metric, site, hour boundary]
    origin_flows: np.ndarray  #: [origin metric, origin, hour]
    still_at_site: np.ndarray  #: [site] persons queued or in service at the end
    in_transit: int  #: persons on their way to a checkpoint at the end
    stage_stats: list[StageStats]
    events: int
    trace: list[tuple] | None


class Model:
    """One replication of a scenario."""

    #: what computes the choice weights (the compiled engine's computes them compiled)
    chooser_class = Chooser

    def __init__(
        self, scenario: Scenario, seed: int, replication: int, trace: bool = False
    ) -> None:
        self.scenario = scenario
        self.clock = Clock(scenario.horizon.start, scenario.horizon.end)
        self.horizon = self.clock.horizon_minutes
        self.env = Calendar()
        self.streams = Streams(seed, replication)
        self.attribute_names = list(scenario.attributes)
        self.origin_names = list(scenario.demand.origins)
        self.class_names = list(scenario.demand.classes)
        self.monitor = Monitor(
            len(scenario.checkpoints), len(self.origin_names), self.clock.n_hours, trace
        )
        self.rules_version = 0
        self.sites: list[Site] = []
        self._site_by_id: dict[str, Site] = {}
        self._build_sites()
        self._divert_share = scenario.demand.choice.divert_share
        self._divert = self.uniform("divert")
        self._retry = self.uniform("choice/retry")
        self.chooser = self.chooser_class(self, self._retry)
        self._build_commitment()
        self._build_departures()
        self._sources = [
            [PartySource(scenario, o, k, self.streams) for k in self.class_names]
            for o in self.origin_names
        ]
        self._block_minutes = scenario.demand.choice.information_update_minutes
        self._expected = expected_parties(scenario, self.clock, self._block_minutes)
        self._parties = 0
        self._schedule_opening_hours()
        self._call(0.0, self._block, urgent=False)
        self._call(0.0, self._snapshot, urgent=False)

    # --- building -------------------------------------------------------------------

    def _build_sites(self) -> None:
        reneging = self.scenario.demand.choice.patience_hours is not None
        for index, (cid, spec) in enumerate(self.scenario.checkpoints.items()):
            site = Site(index, cid, spec.country, self.env, self.monitor, self._leave)
            site.changed = self._rules_changed
            for mode, mode_spec in spec.modes.items():
                stages = []
                for name, stage_spec in (("exit", mode_spec.exit), ("entry", mode_spec.entry)):
                    dist = continuous(stage_spec.service_minutes)
                    rng = self.streams.generator(f"service/{cid}/{mode}/{name}")
                    is_exit = name == "exit"
                    stages.append(
                        Stage(
                            self.env,
                            site,
                            lanes=stage_spec.lanes,
                            service=buffered(dist.sampler(rng)),
                            mean_minutes=dist.mean,
                            is_exit=is_exit,
                            on_done=site.exit_done if is_exit else site.entry_done,
                            on_renege=site.reneged if is_exit and reneging else None,
                        )
                    )
                site.add_mode(mode, stages[0], stages[1], mode_spec.queue_space_m)
            self.sites.append(site)
            self._site_by_id[cid] = site
        self._arrivals = [site.arrive for site in self.sites]

    def _build_commitment(self) -> None:
        """Balking and patience thresholds per origin: longer for those who came further."""
        per_hour = self.scenario.demand.choice.sunk_cost_per_hour
        for site in self.sites:
            site.commitment = [
                1.0 + per_hour * minutes / 60.0 if minutes < float("inf") else 1.0
                for minutes in (row[site.index] for row in self.chooser.travel_minutes)
            ]

    def _build_departures(self) -> None:
        for name, country in self.scenario.countries.items():
            if not country.departures:
                continue
            depart = CountryDepartures(
                name, country.departures, self._site_by_id, self.streams, self.clock.n_hours
            )
            for site in self.sites:
                if site.country == name:
                    site.depart = depart

    def _schedule_opening_hours(self) -> None:
        for site, spec in zip(self.sites, self.scenario.checkpoints.values(), strict=True):
            if spec.opening_hours is None:
                continue
            windows = [(_hhmm(w.open), _hhmm(w.close)) for w in spec.opening_hours]

            def open_at(t: float, tz: str = spec.timezone, windows: list = windows) -> bool:
                local = local_time_of_day_minutes(self.clock, tz, t)
                return any(
                    (o <= local < c) if o < c else (local >= o or local < c) for o, c in windows
                )

            boundaries = sorted(
                {t for t in self._local_boundaries(spec.timezone, windows) if 0 < t < self.horizon}
            )
            state = open_at(0.0)
            site.scheduled_open = state
            for stage in (*site.exit.values(), *site.entry.values()):
                stage.open = site.is_open
            for t in boundaries:
                new_state = open_at(t)
                if new_state != state:
                    self._call(t, lambda s=site, v=new_state: s.set_scheduled_open(v), urgent=True)
                    state = new_state

    def _local_boundaries(self, timezone: str, windows: list[tuple[float, float]]) -> list[float]:
        tz = zone(timezone)
        first = self.clock.start.astimezone(tz).date() - dt.timedelta(days=1)
        days = int(self.horizon // 1440) + 3
        out = []
        for d in range(days):
            day = first + dt.timedelta(days=d)
            for o, c in windows:
                for minutes in (o, c):
                    local = dt.datetime(day.year, day.month, day.day, tzinfo=tz) + dt.timedelta(
                        minutes=minutes
                    )
                    out.append(self.clock.minutes(local))
        return out

    # --- hook API -------------------------------------------------------------------

    def at(self, when: dt.datetime, fn: Callable[[], None]) -> None:
        """Call `fn` at `when`, before any ordinary event at that time."""
        self._call(max(0.0, self.clock.minutes(when)), fn, urgent=True)

    def site(self, checkpoint_id: str) -> Site:
        """The run-time checkpoint with this id."""
        return self._site_by_id[checkpoint_id]

    def sites_of(self, targets: Targets) -> list[Site]:
        """Checkpoints named directly or through their country."""
        wanted = set(targets.checkpoints)
        return [s for s in self.sites if s.id in wanted or s.country in targets.countries]

    def attribute_index(self, name: str) -> int:
        """Position of an attribute in `Party.counts` and its bit in `Party.profile`."""
        return self.attribute_names.index(name)

    def attribute_per_person(self, name: str) -> bool:
        """True if the attribute is held by single persons rather than whole parties."""
        return self.scenario.attributes[name].per == "person"

    def uniform(self, name: str) -> Draws:
        """A buffered U(0, 1) stream of its own, e.g. ``"policy/finland_ban"``."""
        return self.streams.uniform(name)

    def _rules_changed(self) -> None:
        self.rules_version += 1

    # --- the run --------------------------------------------------------------------

    def _call(self, t: float, fn: Callable[[], None], urgent: bool) -> None:
        _Call(self.env, t - self.env.now, fn, urgent)

    def _block(self) -> None:
        """Parties setting out in the next block decide where to go, and set off."""
        now = self.env.now
        b = round(now / self._block_minutes)
        end = min(now + self._block_minutes, self.horizon)
        self.chooser.refresh()
        self._set_out(b, now, end)
        if end < self.horizon:
            self._call(end, self._block, urgent=False)

    def _set_out(self, b: int, now: float, end: float) -> None:
        """Block `b`'s parties, per origin and class: drawn, choosing, and on their way."""
        on_way: _OnTheirWay = ([], [], [])
        for o, sources in enumerate(self._sources):
            for k, source in enumerate(sources):
                baseline, surge = self._expected[0, o, k, b], self._expected[1, o, k, b]
                if baseline + surge > 0:
                    batch = source.draw(b, baseline, surge, now, end)
                    if batch.times.size:
                        self._dispatch(o, k, batch, self.chooser.choose(o, k, batch), on_way)
        self._set_off(on_way)

    def alternative_waits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per choice alternative: expected wait in hours now (0 if unusable), and usable.

        An alternative is usable while both its exit and entry stages have lanes.
        """
        chooser = self.chooser
        wait_hours = np.empty(len(chooser.alt_site))
        usable = np.empty(len(chooser.alt_site), dtype=bool)
        for a, (site_index, mode) in enumerate(
            zip(chooser.alt_site, chooser.alt_mode, strict=True)
        ):
            site = self.sites[site_index]
            exit_stage, entry_stage = site.exit[mode], site.entry[mode]
            usable[a] = exit_stage.capacity > 0 and entry_stage.capacity > 0
            wait = exit_stage.expected_wait_minutes() + entry_stage.expected_wait_minutes()
            wait_hours[a] = wait / 60.0 if usable[a] else 0.0
        return wait_hours, usable

    def _set_off(self, on_way: _OnTheirWay) -> None:
        """The block's parties, in order of arrival, as one batch of calls."""
        due, arrive, parties = on_way
        order = sorted(range(len(due)), key=due.__getitem__)  # stable: ties keep their order
        self.env.call_each(
            [due[i] for i in order], [arrive[i] for i in order], [parties[i] for i in order]
        )

    def _dispatch(
        self, origin: int, klass: int, batch, chosen: np.ndarray, on_way: _OnTheirWay
    ) -> None:
        """Count a block's parties out and add each to `on_way` (the per-party loop is hot)."""
        chooser, now = self.chooser, self.env.now
        deters, alt_mode, arrivals = chooser.deters, chooser.alt_mode, self._arrivals
        add_due, add_arrive, add_party = (column.append for column in on_way)
        set_out, stayed = self.monitor.origins[origin]
        times = batch.times
        sites = chooser.alt_site_array[chosen] if chosen.size and chooser.alt_site else chosen
        # When each party reaches its checkpoint, written as `_send` computes it.
        due = now + (times + chooser.travel_array[origin][sites] - now)
        hours = np.minimum(times // 60.0, self.clock.n_hours - 1).astype(np.int64)
        counts = batch.counts.tolist()
        for i, (t, h, size, alt, site, at, profile, informed, balk, patience, surge) in enumerate(
            zip(
                times.tolist(),
                hours.tolist(),
                batch.sizes.tolist(),
                chosen.tolist(),
                sites.tolist(),
                due.tolist(),
                batch.profiles.tolist(),
                batch.informed.tolist(),
                batch.balk_minutes.tolist(),
                batch.patience_minutes.tolist(),
                batch.surge.tolist(),
                strict=True,
            )
        ):
            set_out[h] += size
            self._parties += 1
            party = Party(
                self._parties,
                origin,
                klass,
                size,
                counts[i],
                profile,
                informed,
                balk,
                patience,
                surge,
            )
            if deters and alt != NO_CHOICE and informed:
                chosen_first, alt = alt, self._after_deterrence(party, alt)
                if alt != chosen_first and alt != NO_CHOICE:
                    self._send(party, alt, t)
                    continue
            if alt == NO_CHOICE:
                stayed[h] += size
                party.state = DONE
                continue
            party.mode = alt_mode[alt]
            add_due(at)  # `_send`, inlined
            add_arrive(arrivals[site])
            add_party(party)

    def _after_deterrence(self, party: Party, alt: int) -> int:
        """What an informed party chooses once word of rules deters it (`NO_CHOICE`: stays home)."""
        chooser = self.chooser
        while (d := chooser.deterrence(party.profile, alt)) > 0 and self._retry() < d:
            party.tried += (chooser.alt_site[alt],)
            alt = chooser.rechoose(party, party.tried)
            if alt == NO_CHOICE:
                break
        return alt

    def _send(self, party: Party, alt: int, t: float) -> None:
        chooser = self.chooser
        site = self.sites[chooser.alt_site[alt]]
        party.mode = chooser.alt_mode[alt]
        party.state = TRAVELLING
        # A party that reneged is settled lazily (at the latest at the next hourly
        # snapshot), so its onward journey can start up to an hour late, never early.
        now = self.env.now
        arrival = t + chooser.travel_minutes[party.origin][site.index]
        self.env.call_in(arrival - now if arrival > now else 0.0, self._arrivals[site.index], party)

    def _leave(self, party: Party, site: Site, now: float, reason: str) -> None:
        """A party leaves a checkpoint unserved: it diverts to another border or goes home."""
        if self._divert() < self._divert_share:
            party.tried += (site.index,)
            alt = self.chooser.rechoose(party, party.tried)
            if alt != NO_CHOICE:
                site.count("diverted", party, party.size, now)
                self._send(party, alt, now)
                return
        site.count(reason, party, party.size, now)
        party.state = DONE

    def _snapshot(self) -> None:
        now = self.env.now
        self._record_stocks(round(now / 60.0), now)
        if now + 60.0 < self.horizon:
            self._call(now + 60.0, self._snapshot, urgent=False)

    def _record_stocks(self, index: int, now: float) -> None:
        stocks = self.monitor.stocks
        for site in self.sites:
            values = site.queue_snapshot(now)
            for m in range(len(STOCK_METRICS)):
                stocks[m, site.index, index] = values[m]

    def discard(self) -> None:
        """Let go of everything the model holds now, not at the next full collection.

        A model is a web of references (sites, stages, SimPy processes, the chooser) that
        only a full collection frees, so a process running replication after replication
        would hold several models' arrays at once. The model is unusable afterwards.
        """
        self.__dict__.clear()

    def run(self) -> Aggregates:
        """Run to the end of the horizon and return the aggregates."""
        env, horizon = self.env, self.horizon
        step, peek, advance = env.step, env.peek, env.advance
        events = 0
        with _cyclic_gc_paused():
            while True:
                advance(horizon)
                if peek() >= horizon:
                    break
                step()
                events += 1
        self._record_stocks(self.clock.n_hours, horizon)
        car_entries, car_waits = self.monitor.car_waits()
        return Aggregates(
            flows=self.monitor.flows(),
            wait_person_hours=self.monitor.wait_sums(),
            car_entries=car_entries,
            car_wait_person_hours=car_waits,
            wait_histogram=self.monitor.wait_histograms(),
            stocks=self.monitor.stocks,
            origin_flows=self.monitor.origin_flows(),
            still_at_site=np.array([_persons_at(site) for site in self.sites]),
            in_transit=sum(p.size for p in env.pending_calls() if p.state == TRAVELLING),
            stage_stats=[s for site in self.sites for s in _stage_stats(site, horizon)],
            events=events + env.calls_run,
            trace=self.monitor.trace,
        )


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a replication runs.

    A run makes no cyclic garbage (parties, events and heap entries are freed by
    reference counting; a test checks it), but it keeps up to hundreds of thousands of
    queued parties alive, and each full pass of the collector scans all of them again:
    a third of the time of a run with 4x the historical demand, for nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _persons_at(site: Site) -> int:
    return sum(
        stage.waiting_persons + stage.busy_persons
        for stage in (*site.exit.values(), *site.entry.values())
    )


def _stage_stats(site: Site, horizon: float) -> list[StageStats]:
    out = []
    for mode in site.exit:
        for name, stage in (("exit", site.exit[mode]), ("entry", site.entry[mode])):
            still = sum(
                horizon - p.joined for p in stage.queue if p.state == WAITING and p.stage is stage
            )
            out.append(
                StageStats(
                    checkpoint=site.id,
                    mode=mode,
                    stage=name,
                    joined_queue=stage.joined_queue,
                    served=stage.served,
                    wait_minutes_served=stage.wait_total,
                    reneged=stage.reneged,
                    wait_minutes_reneged=stage.renege_wait_total,
                    wait_minutes_still_waiting=still,
                    queue_area=stage.mean_queue(horizon),
                )
            )
    return out


def _hhmm(text: str) -> float:
    hours, minutes = text.split(":")
    return int(hours) * 60.0 + int(minutes)

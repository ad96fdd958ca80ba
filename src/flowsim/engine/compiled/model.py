"""The compiled engine: the reference `Model` with its per-party work in kernels.

SimPy stays the clock of the model's processes (demand blocks, information updates,
snapshots, opening hours, dated policy events), built exactly as in the reference
engine. Between two SimPy events, `kernel.advance` runs the calls due (arrivals,
services, reneging, diversion, counters) on arrays, and at each demand block
`sources.set_out` draws the block's parties and their choices and sets them off.
Policies act through the same hook API: a checkpoint here is a `SiteControls` whose
stages are views of the kernel's arrays, and a rule in force is a row the kernels read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowsim.distributions import continuous
from flowsim.engine.checkpoint import SiteControls
from flowsim.engine.compiled import kernel, pcg64, sources, weights
from flowsim.engine.compiled import layout as L
from flowsim.engine.compiled.cache import discard_stale_kernels
from flowsim.engine.compiled.weights import CompiledChooser
from flowsim.engine.departures import MINUTES_PER_DAY
from flowsim.engine.model import Aggregates, Model, StageStats, _cyclic_gc_paused
from flowsim.engine.rules import Rule
from flowsim.monitor import STOCK_METRICS, WAIT_EDGES_HOURS

#: `Party.tried` is a bit mask of checkpoints
MAX_SITES = 62
#: rule rows per policy the engine makes room for
RULES_PER_POLICY = 4
#: draws added to a stream's buffer at a refill (at least)
BUFFER = 8192
#: party rows to start with, at most (more as more parties are under way at once)
FIRST_ROWS = 1 << 15


class KernelStream:
    """A named U(0, 1) stream (`Model.uniform`): its number among the kernels' streams."""

    def __init__(self, model: CompiledModel, index: int) -> None:
        self.index = index
        self._model = model

    def __call__(self) -> float:
        """The next draw, from the buffer the kernels draw from."""
        return self._model.draw(self.index)


class StageView:
    """A stage as policies and choice see it (`Stage`'s hook API), backed by the arrays."""

    def __init__(self, model: CompiledModel, s: int) -> None:
        self._model = model
        self._s = s

    @property
    def capacity(self) -> int:
        """Lanes."""
        return int(self._model.stage_i[self._s, L.CAPACITY])

    @property
    def multiplier(self) -> float:
        """Service-time multiplier."""
        return float(self._model.stage_f[self._s, L.MULTIPLIER])

    @multiplier.setter
    def multiplier(self, value: float) -> None:
        self._model.stage_f[self._s, L.MULTIPLIER] = value

    @property
    def open(self) -> bool:
        """Serving (by opening hours and policies)."""
        return bool(self._model.stage_i[self._s, L.OPEN])

    @open.setter
    def open(self, value: bool) -> None:
        self._model.stage_i[self._s, L.OPEN] = value

    def expected_wait_minutes(self) -> float:
        """Queue length times mean service time over lanes."""
        return kernel.expected_wait(self._model.state, self._s)

    def set_open(self, is_open: bool, now: float) -> None:
        """Open or close the lanes (parties in service finish)."""
        kernel.set_open(*self._model.kernel_args(), self._s, is_open, now)

    def set_capacity(self, lanes: int, now: float) -> None:
        """Change the number of lanes; surplus lanes retire when their party is done."""
        kernel.set_capacity(*self._model.kernel_args(), self._s, lanes, now)


class CompiledSite(SiteControls):
    """A checkpoint of the compiled engine: the hook API, with its rules mirrored as rows."""

    def __init__(self, model: CompiledModel, index: int, checkpoint_id: str, country: str):
        super().__init__(index, checkpoint_id, country, model.env)
        self._model = model

    def add_rule(self, rule: Rule) -> None:
        """Install a rule from now on."""
        super().add_rule(rule)
        self._model.rules_in_force(self)

    def remove_rule(self, rule: Rule) -> None:
        """Uninstall a rule."""
        super().remove_rule(rule)
        self._model.rules_in_force(self)


class CompiledModel(Model):
    """One replication, with the per-party work compiled; outputs equal the reference's."""

    chooser_class = CompiledChooser  # its weights rewritten in place: the array the kernels read

    def __init__(self, scenario, seed: int, replication: int, trace: bool = False) -> None:
        if trace:
            raise ValueError("the compiled engine keeps no trace; use the reference engine")
        self._samplers: list[Callable[[int], np.ndarray]] = []
        super().__init__(scenario, seed, replication)
        if len(self.sites) > MAX_SITES:
            raise ValueError(f"the compiled engine handles at most {MAX_SITES} checkpoints")
        self.arrays = self._make_arrays()
        self.arrays.globals_[L.G_REFILL] = 1  # every buffer is empty
        self.state = kernel.new_state(
            tuple(self.arrays), self.stage_i.shape[0], len(self._samplers)
        )
        self._tables = sources.tables(self._sources, self._expected)  # what `sources` reads
        self.sources = sources.new_sources(tuple(self._tables))

    def kernel_args(self, extra_retry: int = 0) -> tuple[L.State]:
        """What every kernel entry point takes first: the state.

        The streams are refilled first, so the call finds every draw it may take.
        """
        self._refill(extra_retry)
        return (self.state,)

    def draw(self, k: int) -> float:
        """The next draw of stream `k`, taken outside the kernels."""
        self._refill()
        return kernel.take(self.state, k)

    def _refill(self, extra_retry: int = 0) -> None:
        """Refill every stream below what the next kernel call may draw from it.

        The buffer continues the stream: its generator's next draws, sampled as the
        reference engine samples them (`streams.buffered`), so the sequence is the same.
        """
        st = self.arrays
        g, divert, retry = st.globals_, st.choice_streams[0], st.choice_streams[1]
        choice_need = 2 * g[L.G_WAITING] + L.RESERVE
        if (
            not g[L.G_REFILL]  # no stream is down to its reserve
            and st.stream_end[divert] - st.stream_pos[divert] >= choice_need
            and st.stream_end[retry] - st.stream_pos[retry] >= choice_need + extra_retry
        ):
            return
        remaining = st.stream_end - st.stream_pos
        need = np.full(remaining.size, 2 * L.RESERVE, np.int64)
        need[st.choice_streams] = 2 * st.globals_[L.G_WAITING] + 2 * L.RESERVE
        need[st.choice_streams[1]] += extra_retry
        for k in np.flatnonzero(remaining < need):
            k = int(k)
            fresh = self._samplers[k](max(BUFFER, int(need[k] - remaining[k])))
            kernel.restock(self.state, k, fresh)
        st.globals_[L.G_REFILL] = 0

    # --- building (overrides of the reference model's steps) ---------------------------

    def uniform(self, name: str) -> KernelStream:  # type: ignore[override]
        """A U(0, 1) stream of its own, e.g. ``"policy/finland_ban"``."""
        return KernelStream(self, self._register(self.streams.generator(name).random))

    def _register(self, sampler: Callable[[int], np.ndarray]) -> int:
        """A stream of draws, `sampler(n)` giving its next n; its number."""
        self._samplers.append(sampler)
        if hasattr(self, "state"):  # a policy's stream, installed after the model was built
            self.arrays.globals_[L.G_REFILL] = 1
            empty = np.zeros(1, np.int64)
            arrays = self.arrays._replace(
                stream_pos=np.concatenate([self.arrays.stream_pos, empty]),
                stream_end=np.concatenate([self.arrays.stream_end, empty]),
            )
            kernel.add_stream(self.state, arrays.stream_pos, arrays.stream_end)
            self.arrays = arrays  # the old positions are freed once the state reads these
        return len(self._samplers) - 1

    def _build_sites(self) -> None:
        specs = self.scenario.checkpoints
        n_stages = 2 * sum(len(spec.modes) for spec in specs.values())
        self.stage_i = np.zeros((n_stages, L.N_STAGE_INT), np.int64)
        self.stage_f = np.zeros((n_stages, L.N_STAGE_FLOAT))
        reneging = self.scenario.demand.choice.patience_hours is not None
        s = 0
        for index, (cid, spec) in enumerate(specs.items()):
            site = CompiledSite(self, index, cid, spec.country)
            site.changed = self._rules_changed
            for mode, mode_spec in spec.modes.items():
                views = []
                for name, stage_spec in (("exit", mode_spec.exit), ("entry", mode_spec.entry)):
                    dist = continuous(stage_spec.service_minutes)
                    rng = self.streams.generator(f"service/{cid}/{mode}/{name}")
                    self.stage_i[s, [L.CAPACITY, L.OPEN, L.PASS_THROUGH, L.IS_EXIT]] = (
                        stage_spec.lanes,
                        1,
                        dist.mean == 0.0,
                        name == "exit",
                    )
                    self.stage_i[s, [L.RENEGES, L.STAGE_SITE, L.STREAM]] = (
                        name == "exit" and reneging,
                        index,
                        self._register(dist.sampler(rng)),
                    )
                    self.stage_f[s, [L.MEAN, L.MULTIPLIER, L.SPACE_M]] = (
                        dist.mean,
                        1.0,
                        mode_spec.queue_space_m,
                    )
                    views.append(StageView(self, s))
                    s += 1
                site.add_mode(mode, views[0], views[1], mode_spec.queue_space_m)  # type: ignore[arg-type]
            self.sites.append(site)  # type: ignore[arg-type]
            self._site_by_id[cid] = site  # type: ignore[assignment]

    def _build_departures(self) -> None:
        countries = list(self.scenario.countries)
        n_routes = max((len(c.departures) for c in self.scenario.countries.values()), default=0)
        shape = (len(countries), max(n_routes, 1))
        self._routes = {
            "normal": np.zeros(shape),
            "surge": np.zeros(shape),
            "count": np.zeros(len(countries), np.int64),
            "site": np.full(shape, -1, np.int64),
            "stream": np.zeros((len(countries), shape[1] + 1), np.int64),
        }
        r = self._routes
        self._site_departures = np.full(len(self.scenario.checkpoints), -1, np.int64)
        for c, (name, country) in enumerate(self.scenario.countries.items()):
            if not country.departures:
                continue
            r["stream"][c, 0] = self._register(
                self.streams.generator(f"departures/{name}/route").random
            )
            r["count"][c] = len(country.departures)
            r["normal"][c, : r["count"][c]] = np.cumsum([x.share for x in country.departures])
            r["surge"][c, : r["count"][c]] = np.cumsum(
                [x.share if x.surge_share is None else x.surge_share for x in country.departures]
            )
            for i, route in enumerate(country.departures):
                if route.to != "return":
                    r["site"][c, i] = self._site_by_id[route.to].index
                stay = continuous(route.stay_days, scale=MINUTES_PER_DAY)
                r["stream"][c, 1 + i] = self._register(
                    stay.sampler(self.streams.generator(f"departures/{name}/{i}/stay"))
                )
            for site in self.sites:
                if site.country == name:
                    self._site_departures[site.index] = c

    def _make_arrays(self) -> L.Arrays:
        chooser, clock = self.chooser, self.clock
        n_sites, n_hours = len(self.sites), clock.n_hours
        n_origins = len(self.origin_names)
        rows = min(int(self._expected.sum() * 1.2) + 1024, FIRST_ROWS)
        n_blocks = self._expected.shape[-1] + 1
        modes = sorted({m for site in self.sites for m in site.exit})
        self._mode_index = {m: i for i, m in enumerate(modes)}
        n_rule_rows = RULES_PER_POLICY * (len(self.scenario.policies) + 1)
        self._rule_rows: dict[int, int] = {}
        r = self._routes
        row_start = np.zeros((n_origins, len(self.class_names)), np.int64)
        row_length = np.zeros_like(row_start)
        for o, bounds in enumerate(chooser.row_bounds):
            for k, (a, b) in enumerate(bounds):
                row_start[o, k], row_length[o, k] = a, b - a
        self._stocks_now = np.zeros((n_sites, len(STOCK_METRICS)))
        return L.Arrays(
            globals_=np.zeros(L.N_GLOBALS, np.int64),
            params=np.array([self._divert_share, n_hours]),
            choice_streams=np.array([self._divert.index, self._retry.index], np.int64),
            stream_pos=np.zeros(len(self._samplers), np.int64),
            stream_end=np.zeros(len(self._samplers), np.int64),
            parties_i=np.zeros((rows, L.N_PARTY_INT), np.int64),
            parties_f=np.zeros((rows, L.N_PARTY_FLOAT)),
            counts=np.zeros((rows, len(self.attribute_names)), np.int64),
            free_rows=np.zeros(rows, np.int64),
            calendar=np.zeros((rows + n_blocks, 5)),
            on_way=np.zeros((1024, 2)),
            batch_parties=np.zeros((rows, 2)),
            batches=np.zeros((n_blocks, 2), np.int64),
            stage_i=self.stage_i,
            stage_f=self.stage_f,
            rules_i=np.zeros((n_rule_rows, L.N_RULE_INT), np.int64),
            rules_f=np.zeros((n_rule_rows, L.N_RULE_FLOAT)),
            site_rules=np.full((n_sites, n_rule_rows), -1, np.int64),
            commitment=np.array([site.commitment for site in self.sites]).reshape(
                n_sites, n_origins
            ),
            travel=chooser.travel_array,
            alt_site=np.asarray(chooser.alt_site_array, np.int64),
            alt_mode=np.array([self._mode_index[m] for m in chooser.alt_mode], np.int64),
            alt_by_car=np.array([m == "car" for m in chooser.alt_mode], bool),
            weights=chooser.flat_weights,
            deterred=chooser.deterred,
            row_start=row_start,
            row_length=row_length,
            row_alt=np.asarray(chooser.flat_idx, np.int64),
            site_departures=self._site_departures,
            route_normal=r["normal"],
            route_surge=r["surge"],
            route_count=r["count"],
            route_site=r["site"],
            route_stream=r["stream"],
            flows=np.zeros((8, n_sites, n_hours), np.int64),
            wait_sums=np.zeros((n_sites, n_hours)),
            car_entries=np.zeros((n_sites, n_hours), np.int64),
            car_waits=np.zeros((n_sites, n_hours)),
            histogram=np.zeros((n_sites, (n_hours + 23) // 24, len(WAIT_EDGES_HOURS)), np.int64),
            origin_flows=np.zeros((2, n_origins, n_hours), np.int64),
            wait_edges=np.asarray(WAIT_EDGES_HOURS, float),
        )

    # --- rules -----------------------------------------------------------------------

    def rules_in_force(self, site: CompiledSite) -> None:
        """Write the site's rules in force, in order, as rows the kernels read."""
        rows = [self._rule_row(rule) for rule in site.rules]
        st = self.arrays
        st.site_rules[site.index] = -1
        st.site_rules[site.index, : len(rows)] = rows

    def _rule_row(self, rule: Rule) -> int:
        row = self._rule_rows.get(id(rule))
        if row is not None:
            return row
        st = self.arrays
        row = len(self._rule_rows)
        if row == st.rules_i.shape[0]:
            raise ValueError(f"more than {RULES_PER_POLICY} rules per policy")
        self._rule_rows[id(rule)] = row
        modes = L.ALL_MODES
        if rule.modes is not None:
            modes = sum(1 << self._mode_index[m] for m in rule.modes if m in self._mode_index)
        stream = rule.uniform.index if isinstance(rule.uniform, KernelStream) else -1
        st.rules_i[row] = (
            rule.stops_selected,
            modes,
            rule.with_mask,
            rule.without_mask,
            rule.attribute,
            rule.screens,
            rule.refuses,
            rule.refuse_whole_party,
            stream,
        )
        st.rules_f[row] = (rule.compliance, rule.turn_back_share, rule.extra_exit_minutes)
        return row

    # --- the run (overrides) ---------------------------------------------------------

    def alternative_waits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per choice alternative: expected wait in hours now (0 if unusable), and usable."""
        n = len(self.chooser.alt_site)
        hours, usable = np.empty(n), np.empty(n, dtype=bool)
        kernel.alternative_waits(self.state, hours, usable)
        return hours, usable

    def _make_room(self, parties: int) -> None:
        """Room for `parties` more parties (the kernels never grow these arrays).

        Rows freed by parties that are done are used first, and the rows of blocks whose
        parties have all arrived are reused, so the arrays grow with the parties under
        way at once, not with all who have passed.
        """
        st, g = self.arrays, self.arrays.globals_
        grown = {}
        need = g[L.G_ROWS] + max(parties - g[L.G_FREE], 0)
        if need > st.parties_i.shape[0]:
            size = 2 * need
            for name in ("parties_i", "parties_f", "counts", "free_rows"):
                grown[name] = _grown(getattr(st, name), size)
            grown["calendar"] = _grown(st.calendar, size + st.batches.shape[0])
        if g[L.G_ON_WAY] + parties > st.on_way.shape[0]:
            grown["on_way"] = _grown(st.on_way, 2 * (g[L.G_ON_WAY] + parties))
        if g[L.G_BATCH_FILL] + g[L.G_ON_WAY] + parties > st.batch_parties.shape[0]:
            _compact_batches(st)
            need = g[L.G_BATCH_FILL] + g[L.G_ON_WAY] + parties
            if 2 * need > st.batch_parties.shape[0]:
                grown["batch_parties"] = _grown(st.batch_parties, 2 * need)
        if grown:  # the state reads the new arrays before the old ones may be freed
            st = st._replace(**grown)
            if "parties_i" in grown:
                kernel.replace_parties(
                    self.state, st.parties_i, st.parties_f, st.counts, st.free_rows, st.calendar
                )
            kernel.replace_blocks(self.state, st.on_way, st.batch_parties)
            self.arrays = st

    def _set_out(self, b: int, now: float, end: float) -> None:
        source = 0
        while True:
            source, parties = sources.set_out(
                *self.kernel_args(), self.sources, b, now, end, source, self.chooser.deters
            )
            if source < 0:
                break
            self._make_room(parties)  # then draw that source again, from its positioned streams
            self._refill(extra_retry=parties * (len(self.sites) + 1))
        kernel.launch(*self.kernel_args())

    def _record_stocks(self, index: int, now: float) -> None:
        kernel.snapshot(*self.kernel_args(), now, self._stocks_now)
        self.monitor.stocks[:, :, index] = self._stocks_now.T

    def run(self) -> Aggregates:
        """Run to the end of the horizon and return the aggregates."""
        env, horizon = self.env, self.horizon
        step, peek = env.step, env.peek
        events = 0
        with _cyclic_gc_paused():
            while True:
                while not kernel.advance(*self.kernel_args(), min(peek(), horizon)):
                    pass  # stopped to have its streams refilled
                if peek() >= horizon:
                    break
                step()
                events += 1
        self._record_stocks(self.clock.n_hours, horizon)
        st = self.arrays
        if st.globals_[L.G_FAILED]:
            raise RuntimeError("compiled engine: a random stream ran out of draws mid-call")
        self._parties = int(st.globals_[L.G_PARTIES])
        per_stage = self.stage_i[:, L.WAITING_PERSONS] + self.stage_i[:, L.BUSY_PERSONS]
        still = np.zeros(len(self.sites), np.int64)
        np.add.at(still, self.stage_i[:, L.STAGE_SITE], per_stage)
        aggregates = Aggregates(
            flows=st.flows,
            wait_person_hours=st.wait_sums,
            car_entries=st.car_entries,
            car_wait_person_hours=st.car_waits,
            wait_histogram=st.histogram,
            stocks=self.monitor.stocks,
            origin_flows=st.origin_flows,
            still_at_site=still,
            in_transit=int(kernel.in_transit(self.state)),
            stage_stats=self._stage_stats(horizon),
            events=events + int(st.globals_[L.G_CALLS]),
            trace=None,
        )
        # The model is a web of references (views, sites, SimPy processes) that only a full
        # collection frees; the kernels' queues and stream buffers go now.
        self.state = None
        return aggregates

    def _stage_stats(self, horizon: float) -> list[StageStats]:
        out = []
        si, sf = self.stage_i, self.stage_f
        for site in self.sites:
            for mode, view in site.exit.items():
                for name, s in (("exit", view._s), ("entry", site.entry[mode]._s)):  # type: ignore[attr-defined]
                    out.append(
                        StageStats(
                            checkpoint=site.id,
                            mode=mode,
                            stage=name,
                            joined_queue=int(si[s, L.JOINED_QUEUE]),
                            served=int(si[s, L.SERVED]),
                            wait_minutes_served=float(sf[s, L.WAIT_TOTAL]),
                            reneged=int(si[s, L.RENEGED]),
                            wait_minutes_reneged=float(sf[s, L.RENEGE_WAIT_TOTAL]),
                            wait_minutes_still_waiting=kernel.still_waiting_minutes(
                                *self.kernel_args(), s, horizon
                            ),
                            queue_area=float(
                                sf[s, L.AREA] + si[s, L.WAITING_UNITS] * (horizon - sf[s, L.SINCE])
                            ),
                        )
                    )
        return out


def _compact_batches(st: L.Arrays) -> None:
    """Move the parties of blocks not yet all arrived to the front of `batch_parties`."""
    g, batches, rows = st.globals_, st.batches, st.batch_parties
    fill = 0
    for b in np.flatnonzero(batches[: g[L.G_BATCHES], 0] < batches[: g[L.G_BATCHES], 1]):
        first, end = batches[b]
        rows[fill : fill + end - first] = rows[first:end]  # numpy copies overlaps safely
        batches[b] = fill, fill + end - first
        fill += end - first
    g[L.G_BATCH_FILL] = fill


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    """A copy of `array` with `rows` rows (the new rows zero)."""
    out = np.zeros((rows, *array.shape[1:]), array.dtype)
    out[: array.shape[0]] = array
    return out


def _discard_stale_kernels() -> None:
    """Delete the cache files of past versions of the kernels' modules (numba keeps them)."""
    for one in (kernel.advance, sources.set_out, pcg64.next_double, weights.masked_weights):
        discard_stale_kernels(one)  # one kernel of each module names the module


_discard_stale_kernels()

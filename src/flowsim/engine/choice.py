"""Border choice: a multinomial logit over (checkpoint, mode) alternatives.

Utility = country attractiveness (for normal traffic, or the country's surge
          attractiveness for the mobilization surge) + the crossing's own constant
          + the class's mode constant
          - hours_weight * travel hours - wait weight * expected wait hours,
where the wait weight is `hours_weight` for normal traffic and `surge_wait_weight` for
the surge, and the expected wait is the queue as it was `information_delay_hours`
before the choice (what word of mouth carries). An alternative is open to a party if
its lanes for the mode exist and the destination admits the party's documents.
Informed parties also know the policies in force: they avoid checkpoints that are
closed or whose rules would stop them, and are deterred from screened ones with the
rules' probability. They know announced policies too, and avoid those that will be in
force when they expect to arrive (travel plus expected wait). Choice weights are
recomputed at each information update, for every (origin, class, surge, informed,
profile) at once.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from flowsim.demand import PartyBatch, class_shares

if TYPE_CHECKING:
    from flowsim.engine.model import Model
    from flowsim.engine.rules import Rule
    from flowsim.engine.traveller import Party
    from flowsim.streams import Draws

NO_CHOICE = -1


class Chooser:
    """Cached choice probabilities and the sampling of choices."""

    def __init__(self, model: Model, retry: Draws) -> None:
        s = model.scenario
        self.model = model
        self._retry = retry
        self.alt_site: list[int] = []
        self.alt_mode: list[str] = []
        for site in model.sites:
            for mode in site.exit:
                self.alt_site.append(site.index)
                self.alt_mode.append(mode)
        self.alt_site_array = np.array(self.alt_site)
        n_profiles = 1 << len(model.attribute_names)
        profiles = np.arange(n_profiles)
        countries = s.countries
        self._docs_ok = np.ones((n_profiles, len(self.alt_site)), dtype=bool)
        for a, site_index in enumerate(self.alt_site):
            mask = 0
            for name in countries[model.sites[site_index].country].requires:
                mask |= 1 << model.attribute_names.index(name)
            self._docs_ok[:, a] = (profiles & mask) == mask
        choice = s.demand.choice
        self._hours_weight = choice.hours_weight
        surge_wait = choice.surge_wait_weight
        #: utility lost per hour of expected wait, [normal, surge]
        self._wait_weights = np.array(
            [choice.hours_weight, choice.hours_weight if surge_wait is None else surge_wait]
        )[:, None]
        self._delay_minutes = 60.0 * choice.information_delay_hours
        #: (time, expected wait hours per alternative) of recent updates, oldest first
        self._history: deque[tuple[float, np.ndarray]] = deque()
        #: per origin and class: the alternatives' indices and base utilities [normal|surge, .]
        self.rows: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for origin_name, origin in s.demand.origins.items():
            shares = class_shares(s, origin_name)
            per_class = []
            for klass_name, klass in s.demand.classes.items():
                idx, base = [], ([], [])
                if shares[klass_name] > 0:
                    for a, (site_index, mode) in enumerate(
                        zip(self.alt_site, self.alt_mode, strict=True)
                    ):
                        site = model.sites[site_index]
                        if mode in klass.modes and site.id in origin.travel_hours:
                            hours = origin.travel_hours[site.id]
                            idx.append(a)
                            country = countries[site.country]
                            surge = country.surge_attractiveness
                            for group, constant in zip(
                                base,
                                (
                                    country.attractiveness,
                                    country.attractiveness if surge is None else surge,
                                ),
                                strict=True,
                            ):
                                group.append(
                                    constant
                                    + s.checkpoints[site.id].attractiveness
                                    + klass.modes[mode]
                                    - self._hours_weight * hours
                                )
                per_class.append((np.array(idx, dtype=np.int64), np.array(base)))
            self.rows.append(per_class)
        #: travel minutes from each origin to each checkpoint (inf where unreachable)
        self.travel_minutes = [
            [60.0 * origin.travel_hours.get(site.id, float("inf")) for site in model.sites]
            for origin in s.demand.origins.values()
        ]
        self.travel_array = np.array(self.travel_minutes).reshape(
            len(self.travel_minutes), len(model.sites)
        )
        # All rows side by side, so that `refresh` is a few array operations, not a loop.
        self.flat_idx = np.concatenate([idx for per_class in self.rows for idx, _ in per_class])
        self._flat_base = np.concatenate(
            [base for per_class in self.rows for _, base in per_class], axis=1
        )
        self._flat_travel = np.concatenate(
            [
                self.travel_array[o][self.alt_site_array[idx]]
                for o, per_class in enumerate(self.rows)
                for idx, _ in per_class
            ]
        )
        self.row_bounds: list[list[tuple[int, int]]] = []
        end = 0
        for per_class in self.rows:
            self.row_bounds.append([(end, end := end + idx.size) for idx, _ in per_class])
        nonempty = [(a, b) for bounds in self.row_bounds for a, b in bounds if b > a]
        self._row_starts = np.array([a for a, _ in nonempty], dtype=np.int64)
        self._row_lengths = np.array([b - a for a, b in nonempty], dtype=np.int64)
        self._weights: list[list[np.ndarray]] | None = None
        self.flat_weights = np.zeros((4, n_profiles, self.flat_idx.size))
        self._row_indices = [[idx.tolist() for idx, _ in per_class] for per_class in self.rows]
        self._row_cache: dict[tuple[int, int, int, int], list[float]] = {}
        self._known_version = -1
        self._blocked = np.zeros_like(self._docs_ok)
        #: [profile, row alternative]: not blocked by a policy in force (`_update_known`)
        self._open_flat = ~self._blocked[:, self.flat_idx]
        self.deterred = np.zeros(self._docs_ok.shape)
        #: announced rules: (start, end, [profile, alternative] that the rule will block)
        self._pending: list[tuple[float, float, np.ndarray]] = []
        #: False while no rule deters anyone (skips a lookup per party)
        self.deters = False

    def refresh(self) -> None:
        """Recompute all choice weights from the current queues and known policies."""
        self._row_cache.clear()
        model = self.model
        if model.rules_version != self._known_version:
            self._update_known()
        wait_hours, usable = model.alternative_waits()
        known = self._known_waits(model.env.now, wait_hours)
        open_now = self._open_flat  # [profile, row alternative]: as informed parties know it
        if self._pending:
            idx = self.flat_idx
            arrival = model.env.now + self._flat_travel + 60.0 * known[idx]
            for start, end, will_block in self._pending:
                open_now = open_now & ~(will_block[:, idx] & (arrival >= start) & (arrival < end))
        self.flat_weights = self._weights_of(known, usable, open_now)
        self._weights = None  # each row's view, made when the reference engine asks

    def _weights_of(
        self, known: np.ndarray, usable: np.ndarray, open_now: np.ndarray
    ) -> np.ndarray:
        """[surge * 2 + informed, profile, row alternative]: the weights, rows side by side."""
        idx = self.flat_idx
        utility = self._flat_base - self._wait_weights * known[idx]  # [normal|surge, row alt]
        if idx.size:
            row_max = np.maximum.reduceat(utility, self._row_starts, axis=1)
            utility -= np.repeat(row_max, self._row_lengths, axis=1)
        w = np.exp(utility)
        uninformed_flat = (self._docs_ok & usable)[:, idx]
        informed_flat = uninformed_flat & open_now
        flat = np.empty((4, *uninformed_flat.shape))
        for group in (0, 1):
            np.multiply(uninformed_flat, w[group], out=flat[2 * group])
            np.multiply(informed_flat, w[group], out=flat[2 * group + 1])
        return flat

    def _row_weights(self, origin: int, klass: int) -> np.ndarray:
        """[surge * 2 + informed, profile, alternative]: the weights of one row."""
        if self._weights is None:
            flat = self.flat_weights
            self._weights = [[flat[:, :, a:b] for a, b in bounds] for bounds in self.row_bounds]
        return self._weights[origin][klass]

    def _known_waits(self, now: float, wait_hours: np.ndarray) -> np.ndarray:
        """Expected waits as they were `information_delay_hours` ago (the oldest known)."""
        history = self._history
        history.append((now, wait_hours))
        while len(history) > 1 and history[1][0] <= now - self._delay_minutes:
            history.popleft()
        return history[0][1]

    def _update_known(self) -> None:
        profiles = np.arange(self._docs_ok.shape[0])
        for a, (site_index, mode) in enumerate(zip(self.alt_site, self.alt_mode, strict=True)):
            site = self.model.sites[site_index]
            blocked = np.full(profiles.shape, site.closures > 0)
            keep = np.ones(profiles.shape)
            for r in site.rules:
                blocked |= r.blocks(profiles, mode)
                keep *= 1.0 - r.deterrence(profiles)
            self._blocked[:, a] = blocked
            self.deterred[:, a] = 1.0 - keep
        self._open_flat = ~self._blocked[:, self.flat_idx]
        self._pending = [
            (start, end, self._will_block(site_index, rule))
            for site_index, site in enumerate(self.model.sites)
            for rule, start, end in site.announced
        ]
        self.deters = bool(self.deterred.any())
        self._known_version = self.model.rules_version

    def _will_block(self, site_index: int, rule: Rule) -> np.ndarray:
        """[profile, alternative]: what an announced rule at a site will block."""
        mask = np.zeros_like(self._docs_ok)
        profiles = np.arange(mask.shape[0])
        for a, (s, mode) in enumerate(zip(self.alt_site, self.alt_mode, strict=True)):
            if s == site_index:
                mask[:, a] = rule.blocks(profiles, mode)
        return mask

    def choose(self, origin: int, klass: int, batch: PartyBatch) -> np.ndarray:
        """Alternative index chosen by each party of a batch (`NO_CHOICE` if none is open)."""
        n = batch.times.size
        weights = self._row_weights(origin, klass)
        if n == 0 or weights.shape[2] == 0:
            return np.full(n, NO_CHOICE)
        rows = weights[
            batch.informed.astype(np.int64) + 2 * batch.surge.astype(np.int64), batch.profiles
        ]
        cdf = np.cumsum(rows, axis=1)
        total = cdf[:, -1]
        local = (cdf <= (batch.choice_u * total)[:, None]).sum(axis=1)
        local = np.minimum(local, cdf.shape[1] - 1)
        chosen = np.where(total > 0, self.rows[origin][klass][0][local], NO_CHOICE)
        return chosen

    def deterrence(self, profile: int, alt: int) -> float:
        """Probability that an informed party with `profile` is deterred from `alt`."""
        return float(self.deterred[profile, alt])

    def rechoose(self, party: Party, exclude: tuple[int, ...]) -> int:
        """Choose again without the checkpoints in `exclude`; `NO_CHOICE` if none is left.

        Plain Python over the party's few alternatives: called for every party that balks,
        reneges or is deterred, where numpy's per-call overhead would dominate.
        """
        idx = self._row_indices[party.origin][party.klass]
        if not idx:
            return NO_CHOICE
        kind = int(party.informed) + 2 * int(party.surge)
        key = (party.origin, party.klass, kind, party.profile)
        weights = self._row_cache.get(key)
        if weights is None:
            weights = self._row_weights(party.origin, party.klass)[kind, party.profile].tolist()
            self._row_cache[key] = weights
        alt_site, total, cumulative = self.alt_site, 0.0, []
        for a, w in zip(idx, weights, strict=True):
            if alt_site[a] not in exclude:
                total += w
            cumulative.append(total)
        if total <= 0.0:
            return NO_CHOICE
        local = min(bisect_right(cumulative, self._retry() * total), len(idx) - 1)
        return idx[local]

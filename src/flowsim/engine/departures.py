"""Departures from a neighbour country: admitted parties leave again after a stay.

Each admitted party takes one of its country's routes with the route's share (surge
parties with the surge share), or none (it stays beyond the horizon, or leaves by a
way nobody counts), and leaves after a stay drawn from the route's distribution. A
departure changes nothing else in the model, so it is counted at admission, in the
hour it will happen, at the route's checkpoint (the checkpoint of entry for
``return``): no event per departure.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

from flowsim.distributions import continuous
from flowsim.streams import buffered

if TYPE_CHECKING:
    from flowsim.engine.checkpoint import Site
    from flowsim.engine.traveller import Party
    from flowsim.scenario.schema import DepartureRoute
    from flowsim.streams import Streams

MINUTES_PER_DAY = 1440.0


class CountryDepartures:
    """The departure routes of one country, called for every party it admits."""

    def __init__(
        self,
        country: str,
        routes: list[DepartureRoute],
        site_by_id: dict[str, Site],
        streams: Streams,
        n_hours: int,
    ) -> None:
        self._route = streams.uniform(f"departures/{country}/route")
        self._normal = list(accumulate(r.share for r in routes))
        self._surge = list(
            accumulate(r.share if r.surge_share is None else r.surge_share for r in routes)
        )
        #: where each route's departures are counted; None: the party's checkpoint of entry
        self._counted_at = [None if r.to == "return" else site_by_id[r.to] for r in routes]
        self._stay = [
            buffered(
                continuous(r.stay_days, scale=MINUTES_PER_DAY).sampler(
                    streams.generator(f"departures/{country}/{i}/stay")
                )
            )
            for i, r in enumerate(routes)
        ]
        self._n_hours = n_hours

    def __call__(self, party: Party, site: Site, now: float) -> None:
        """Count the departure of an admitted party, if it takes a route."""
        i = bisect_right(self._surge if party.surge else self._normal, self._route())
        if i < len(self._stay):  # the first route whose cumulative share exceeds the draw
            hour = int((now + self._stay[i]()) // 60.0)
            if hour < self._n_hours:
                where = self._counted_at[i] or site
                where.counters.departures[hour] += party.size

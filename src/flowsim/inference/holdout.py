"""Holding reported figures out of a calibration, to test the fit on what it was not tuned on.

A selector names figures by id (a glob: ``R-*``, ``S4_kz_*``) or by one of their fields:
``metric:queue_km``, ``country:Kazakhstan``, ``checkpoint:upper_lars`` (figures about the
matching checkpoints alone), or ``date:2022-10-03`` (every figure whose window touches that
calendar day). Patterns are globs and case-sensitive.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence

from flowsim.errors import RunError
from flowsim.inference.observations import Observation

FIELDS = ("id", "metric", "country", "checkpoint", "date")


def _date(text: str, selector: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RunError(
            f"{selector!r}: expected a date as YYYY-MM-DD", field_path="--hold-out"
        ) from None


def _matches(obs: Observation, field: str, pattern: str, selector: str) -> bool:
    if field == "id":
        return fnmatch.fnmatchcase(obs.id, pattern)
    if field == "metric":
        return fnmatch.fnmatchcase(obs.metric, pattern)
    if field == "country":
        return any(fnmatch.fnmatchcase(c, pattern) for c in obs.countries)
    if field == "checkpoint":  # a figure about those checkpoints alone, not a country's total
        return all(fnmatch.fnmatchcase(c, pattern) for c in obs.checkpoints)
    day = _date(pattern, selector)
    # A window ending at midnight does not touch the day that midnight begins.
    ends_at_midnight = not obs.is_snapshot and obs.end.time() == dt.time(0)
    last = (obs.end - dt.timedelta(microseconds=1)).date() if ends_at_midnight else obs.end.date()
    return obs.start.date() <= day <= last


def _parse(selector: str) -> tuple[str, str]:
    """``(field, pattern)``: ``FIELD:VALUE`` with a known field, else an id pattern."""
    field, colon, pattern = selector.partition(":")
    if colon and field in FIELDS:
        if not pattern:
            raise RunError(f"{selector!r}: no value after {field}:", field_path="--hold-out")
        return field, pattern
    return "id", selector


def held_out(observations: Sequence[Observation], selectors: Sequence[str]) -> frozenset[str]:
    """The ids of the figures that any selector names; a selector that names none is an error."""
    chosen: set[str] = set()
    for selector in selectors:
        field, pattern = _parse(selector)
        named = {o.id for o in observations if _matches(o, field, pattern, selector)}
        if not named:
            typo = field == "id" and ":" in selector and not selector.startswith("id:")
            hint = f" (fields: {', '.join(f + ':' for f in FIELDS)})" if typo else ""
            raise RunError(f"{selector!r} names no observation{hint}", field_path="--hold-out")
        chosen |= named
    if chosen and len(chosen) == len(observations):
        raise RunError(
            "every observation is held out: nothing is left to tune on", field_path="--hold-out"
        )
    return frozenset(chosen)


def split_selectors(values: Sequence[str]) -> list[str]:
    """Selectors from repeated and comma-separated ``--hold-out`` values."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]

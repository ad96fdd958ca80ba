"""The one exception family of flowsim: every user mistake becomes a one-line message.

A `FlowsimError` carries the file, the field path (or line) and what is wrong; the
CLI prints ``str(err)`` on one line and exits with status 2.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """`text` with control characters (newlines, tabs, ...) escaped, so it prints on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like `name`, if one is close enough to suggest."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a known name is close to `name`, else nothing."""
    match = closest(name, known)
    return f" (did you mean {match!r}?)" if match else ""


class FlowsimError(Exception):
    """A user-facing error: a bad input file, option or result folder."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        field_path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.field_path = field_path
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        """Render ``file:line: field.path: problem`` on one line."""
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [one_line(p) for p in (where, self.field_path) if p]
        message = one_line(" ".join(self.problem.split()))
        return ": ".join([*parts, message])


class ScenarioError(FlowsimError):
    """A scenario file (or an override of it) is invalid."""


class ObservationError(FlowsimError):
    """An observations CSV file is invalid or does not match the scenario."""


class RunError(FlowsimError):
    """A run cannot proceed: bad option, unwritable output folder, bad result folder."""

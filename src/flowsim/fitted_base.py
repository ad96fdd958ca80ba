"""A calibrated scenario records the base it was fitted on, and says when that base has changed.

A file written by `flowsim calibrate` `extends` its input scenario and sets only the fitted
values. Edit the input afterwards (a new mechanism, another capacity) and the fitted file
silently becomes "the new model with the old model's fitted values". Its header therefore
carries the SHA-256 of the resolved base as calibrated; loading the file compares it with
the base as it is now.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from flowsim.scenario.loader import dump_resolved, load_scenario
from flowsim.scenario.schema import Scenario

FITTED_HEADER = "# Produced by flowsim calibrate"
BASE_LINE = "# Fitted on the base scenario with sha256 "


def scenario_digest(scenario: Scenario) -> str:
    """SHA-256 of the fully resolved scenario."""
    return hashlib.sha256(dump_resolved(scenario).encode("utf-8")).hexdigest()


def base_line(base: Scenario) -> str:
    """The header line that records `base`."""
    return BASE_LINE + scenario_digest(base)


def changed_base(path: str | Path) -> tuple[str, str] | None:
    """``(field, problem)`` if `path` was fitted on another version of the scenario it extends."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith(FITTED_HEADER):
        return None
    recorded = next((ln[len(BASE_LINE) :].strip() for ln in text.splitlines()
                     if ln.startswith(BASE_LINE)), None)  # fmt: skip
    extends = (yaml.safe_load(text) or {}).get("extends")
    if recorded is None or not isinstance(extends, str):
        return None
    base_path = Path(path).parent / extends
    if scenario_digest(load_scenario(base_path)) == recorded:
        return None
    return (
        "extends",
        f"{extends} has changed since this file was calibrated on it: the fitted values "
        "were fitted to another model; rerun flowsim calibrate",
    )

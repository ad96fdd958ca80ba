"""Parameters per replication: draw ``r`` of a scenario's posterior for replication ``r``.

A calibrated scenario names its ``posterior.csv`` (one row per draw, a column per
parameter, rows in random order). With ``parameters="posterior"`` (the default when there
is one), replication ``r`` runs with the parameter values of row ``r``, and draws from
streams ``r`` as always: every scenario of a comparison pairs draw ``r`` with streams ``r``,
so a counterfactual's effect is paired on common random numbers within each draw. With
``"point"``, every replication runs with the values written in the scenario (a
calibrated scenario writes the posterior medians there).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np

from flowsim.errors import RunError, ScenarioError
from flowsim.scenario.schema import Scenario

MODES = ("posterior", "point")


def read_posterior(scenario: Scenario) -> dict[str, np.ndarray]:
    """The draws of `scenario`'s posterior, per parameter; checked against its parameters."""
    import pandas as pd

    path = Path(scenario.posterior)  # type: ignore[arg-type]
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ScenarioError(f"cannot read it: {err}", file=str(path)) from None
    if "weight" in frame.columns:
        raise ScenarioError(
            "a weighted posterior (a 'weight' column) is not supported: give equally weighted "
            "draws, e.g. resampled by weight",
            file=str(path),
        )
    columns = [c for c in frame.columns if c != "draw"]
    unknown = [c for c in columns if c not in scenario.parameters]
    if unknown or not columns:
        problem = (
            f"column {unknown[0]!r} is not a parameter of scenario {scenario.name!r}"
            if unknown
            else "no parameter columns"
        )
        raise ScenarioError(problem, file=str(path), field_path="posterior")
    draws = {}
    for name in columns:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        if values.size == 0 or not np.isfinite(values).all():
            raise ScenarioError(
                f"column {name!r} needs a finite number in every row", file=str(path)
            )
        draws[name] = values
    return draws


def posterior_record(scenario: Scenario) -> dict[str, str]:
    """``{"path", "sha256"}`` of the posterior file (path relative to the working folder)."""
    path = Path(scenario.posterior)  # type: ignore[arg-type]
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd())
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def replication_values(
    scenario: Scenario, replications: int, mode: str = "posterior"
) -> list[dict[str, float] | None]:
    """The parameter values of each replication (None: the scenario's own).

    More replications than draws is refused: draws would repeat, and the bands would
    claim more than the posterior holds.
    """
    if mode not in MODES:
        raise RunError(f"must be one of {', '.join(MODES)}", field_path="--parameters")
    if scenario.posterior is None or mode == "point":
        return [None] * replications
    draws = read_posterior(scenario)
    _refuse_overridden(scenario, draws)
    available = min(v.size for v in draws.values())
    if replications > available:
        raise RunError(
            f"{replications} replications need as many posterior draws; "
            f"{scenario.posterior} has {available} (or pass --parameters point)",
            field_path="--replications",
        )
    return [{name: float(v[r]) for name, v in draws.items()} for r in range(replications)]


def _refuse_overridden(scenario: Scenario, draws: dict[str, np.ndarray]) -> None:
    """Refuse a parameter set after the file that names the posterior (which the draws replace).

    A counterfactual that `extends` a calibrated scenario and changes a calibrated
    parameter, or ``--set`` of one, would otherwise be silently undone by the draws.
    Values set in the file that names the posterior, or in the files it extends, are
    what the draws stand for.
    """
    raw = scenario._raw
    if raw is None:
        return
    order = {file: i for i, file in enumerate(raw.chain)}
    named_in = raw.locate(("posterior",))[0]
    for name in draws:
        origin = raw.locate(("parameters", name, "value"))[0]
        if order.get(origin, len(order)) > order.get(named_in, len(order)):
            raise RunError(
                f"parameter {name!r} is set in {origin}, but every replication takes it from "
                f"the posterior named in {named_in}; drop the setting, or pass "
                "--parameters point",
                field_path=f"parameters.{name}",
            )


def with_values(scenario: Scenario, values: dict[str, float] | None) -> Scenario:
    """`scenario` with its parameters set to `values` (every ``$name`` resolved again)."""
    if not values:
        return scenario
    from flowsim.scenario.loader import with_overrides

    if scenario._raw is None:
        raise RunError(
            f"scenario {scenario.name!r} was built without its mapping, so its parameters "
            "cannot be set per replication; load it with flowsim.load_scenario",
            field_path="posterior",
        )
    overrides = {"parameters": {k: {"value": v} for k, v in values.items()}}
    return with_overrides(scenario._raw, overrides)[0]

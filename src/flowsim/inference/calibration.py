"""Calibration: tune a scenario's bounded parameters so the model matches reported figures.

The objective is the negative log-likelihood of the observations (`flowsim.inference.likelihood`)
given ``R`` replications run with the same seeds at every evaluation (common random
numbers), so two parameter vectors are compared on the same arrivals and the objective
is a deterministic, if rough, function of the parameters. It is minimised by
Nelder–Mead in the unit cube of the parameter bounds (derivative-free, tolerant of the
small jumps a discrete-event model makes; each evaluation's replications run in
parallel). The model's own variance of each figure (log scale) is estimated once, by a
pilot run at the starting point with more replications (``pilot.json``), and held fixed,
so that the objective does not jump with a two-replication variance estimate. Every
evaluation is appended to ``evaluations.jsonl``: a rerun with the same ``--out`` replays
them from the log and continues where it stopped. ``calibration.json`` records everything
an evaluation depends on (the resolved scenario, the observations, seed, replications,
parameters and bounds, reporting error, pilot replications, flowsim version); a rerun
with any of them changed is refused, naming it, or with ``restart`` starts afresh.
``budget`` caps the evaluations (profiles or waves included), and ``time_budget`` the wall
time: no evaluation starts that would not end in time (judged by the longest so far).

The default method then samples the posterior (`flowsim.inference.posterior`): the point
fit gets half the budget, and waves of simulated posterior draws the rest. The point
method instead reports the best point evaluated, whether the optimizer converged, and:

Identifiability: around the optimum, each parameter's loss profile (others fixed) is
fitted with a parabola; its curvature gives an approximate standard error and 95%
interval. A parameter is identified only on evidence: a converged fit, a profile
evaluated on both sides that rises on both, and an interval narrower than half the bounds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from flowsim import __version__
from flowsim.errors import RunError
from flowsim.executors import open_executor
from flowsim.fitted_base import FITTED_HEADER, base_line, scenario_digest
from flowsim.inference.emulator import Emulator
from flowsim.inference.likelihood import REPORTING_ERROR, log_likelihood, log_variance
from flowsim.inference.observations import Observation, simulate_observation, status
from flowsim.inference.posterior import (
    BURN_STEPS,
    FINAL_BURN,
    FINAL_STEPS,
    KEEP_STEPS,
    POSTERIOR_DRAWS,
    WAVE_MIN,
    Chain,
    EmulatedLikelihood,
    Evidence,
    PosteriorFit,
    emulator_check,
    fit_emulator,
    parameter_rows,
    sample,
    standardised_errors,
)
from flowsim.runner import map_replications, simulate
from flowsim.scenario import Scenario
from flowsim.scenario.loader import RawScenario, load_with_origins, whole_number_uses
from flowsim.timebase import Clock

METHODS = ("posterior", "point")
#: What the posterior method writes to the calibration folder, beside the evaluation log.
POSTERIOR_FILES = (
    "posterior.csv",
    "posterior.json",
    "posterior_marginals.png",
    "posterior_pairs.png",
)
#: Seconds kept back from a time budget for the last sampler run and the writing, at least.
SAMPLER_RESERVE = 30.0
PROFILE_STEP = 0.08  # in units of each parameter's range
IDENTIFIED_WIDTH = 0.5  # a 95% interval narrower than this share of the range is "identified"
AT_BOUND = 0.01  # a fitted value this close to a bound (share of the range) is set by the bound
#: First line of a fitted scenario: how flowsim knows a file it may overwrite.
#: What each entry of ``calibration.json``'s inputs is called when it differs.
INPUT_NAMES = {
    "scenario_sha256": "resolved scenario (file, extends or --set)",
    "observations_sha256": "observations",
    "seed": "seed",
    "replications": "number of replications (-n)",
    "parameters": "parameters or their bounds (--params)",
    "reporting_error": "--reporting-error",
    "pilot_replications": "--pilot-replications",
    "flowsim": "flowsim version",
}


class BudgetSpent(Exception):
    """Raised by the objective instead of evaluating beyond the budget."""


@dataclass(frozen=True)
class FreeParameter:
    """A parameter being calibrated, with its bounds."""

    name: str
    lower: float
    upper: float
    start: float
    source: str

    def value(self, unit: float) -> float:
        """Parameter value at a point of the unit interval."""
        return self.lower + float(np.clip(unit, 0.0, 1.0)) * (self.upper - self.lower)

    def unit(self, value: float) -> float:
        """Position of a value in the unit interval."""
        return (value - self.lower) / (self.upper - self.lower)


def free_parameters(
    scenario: Scenario, names: Sequence[str] | None, file: str, whole: Mapping[str, str] = {}
) -> list[FreeParameter]:
    """The parameters to tune: those named, else those marked ``calibrate: true``.

    `whole` maps parameters that set a whole-number field to that field: they are refused.
    """
    chosen = list(names) if names else [n for n, p in scenario.parameters.items() if p.calibrate]
    if not chosen:
        raise RunError(
            "no parameters to calibrate: mark some `calibrate: true` or pass --params", file=file
        )
    out = []
    for name in chosen:
        spec = scenario.parameters.get(name)
        if spec is None:
            raise RunError(f"unknown parameter {name!r}", file=file, field_path="--params")
        if name in whole:
            raise RunError(
                f"parameter {name!r} sets the whole number {whole[name]}; calibration "
                "searches real values, so it cannot tune it",
                file=file,
                field_path="--params",
            )
        if spec.lower is None or spec.upper is None or spec.lower == spec.upper:
            raise RunError(
                f"parameter {name!r} needs distinct lower and upper bounds to be calibrated",
                file=file,
                field_path=f"parameters.{name}",
            )
        out.append(FreeParameter(name, spec.lower, spec.upper, spec.value, spec.source))
    return out


class EvaluationLog:
    """Append-only record of evaluations; replays them on resume."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple, dict] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by an interruption
                    self.records[self._key(record["unit"])] = record

    @staticmethod
    def _key(unit: Sequence[float]) -> tuple:
        return tuple(round(float(u), 12) for u in unit)

    def get(self, unit: Sequence[float]) -> dict | None:
        """A previous evaluation at this point, if any."""
        return self.records.get(self._key(unit))

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, 2)
            return handle.read(1) == b"\n"

    def add(self, record: dict) -> None:
        """Record an evaluation (flushed to disk at once)."""
        self.records[self._key(record["unit"])] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut_short = (
            self.path.exists() and self.path.stat().st_size > 0 and not self._ends_with_newline()
        )
        with self.path.open("a", encoding="utf-8") as handle:
            # After a kill mid-line, start afresh rather than glue this record to the fragment.
            handle.write(("\n" if cut_short else "") + json.dumps(record) + "\n")
            handle.flush()


@dataclass
class Objective:
    """The negative log-likelihood of the observations at a parameter vector."""

    raw: RawScenario  #: the scenario as read at the start, overrides merged: never read again
    params: list[FreeParameter]
    observations: list[Observation]
    replications: int
    seed: int
    workers: int
    executor: Executor | None
    log: EvaluationLog
    reporting_error: float = REPORTING_ERROR
    on_evaluation: Callable[[], None] | None = None
    horizon_cut: dict = field(default_factory=dict)
    budget: int | None = None  #: most evaluations in the log
    #: `time.monotonic()` by which every evaluation must be done (None: no time budget)
    deadline: float | None = None
    #: the longest evaluation of this run so far (the pilot's time, scaled, before the first)
    longest_seconds: float = 0.0
    #: rounds of replications over the workers that the deadline keeps time for afterwards
    reserve_rounds: int = 0
    #: seconds the deadline keeps for the posterior's last sampling (estimated from a wave's)
    sampler_seconds: float = SAMPLER_RESERVE
    model_var: dict[str, float] = field(default_factory=dict)  #: log-variance per observation id
    #: points asked for in this run, replayed or new: a resumed run looks only at these
    visited: list[list[float]] = field(default_factory=list)

    def overrides(self, unit: Sequence[float]) -> dict:
        """The ``parameters.<name>.value`` overrides of a point of the unit cube."""
        return {
            "parameters": {
                p.name: {"value": p.value(u)} for p, u in zip(self.params, unit, strict=True)
            }
        }

    def scenario_at(self, unit: Sequence[float]) -> Scenario:
        """The scenario with the parameters set to a point of the unit cube.

        Built from the scenario as read when the calibration started, so that an edit of
        its files during a calibration cannot change the model between evaluations.
        """
        from flowsim.scenario.loader import deep_merge, with_overrides

        return with_overrides(self.raw, deep_merge(self.overrides(unit), self.horizon_cut))[0]

    def __call__(self, unit: Sequence[float]) -> float:
        """Loss at a point (from the log if it was evaluated before)."""
        unit = [float(np.clip(u, 0.0, 1.0)) for u in unit]
        record = self.log.get(unit)
        if record is None:
            if self.budget is not None and len(self.log.records) >= self.budget:
                raise BudgetSpent
            if self.deadline is not None and self.deadline < time.monotonic() + self._needed():
                raise BudgetSpent  # it would not end in time
            started = time.monotonic()
            record = self._evaluate(unit)
            self.longest_seconds = max(self.longest_seconds, time.monotonic() - started)
        self.visited.append(unit)  # only once it is in the log, for `_best`
        return record["loss"]

    def has_time(self) -> bool:
        """Whether a new evaluation would end in time (replayed ones take none)."""
        return self.deadline is None or time.monotonic() + self._needed() <= self.deadline

    def _needed(self) -> float:
        """Seconds an evaluation needs before the deadline: itself and what is kept back."""
        rounds = math.ceil(self.replications / max(self.workers, 1))
        return self.longest_seconds * (1 + self.reserve_rounds / rounds) + self.sampler_seconds

    def _evaluate(self, unit: list[float]) -> dict:
        """Run the replications at a point and add the result to the log."""
        scenario = self.scenario_at(unit)
        outputs = map_replications(
            simulate,
            [(scenario, self.seed, r) for r in range(self.replications)],
            self.workers,
            self.executor,
            progress=False,
        )
        sims = simulated_from_outputs(scenario, outputs, self.observations)
        loss = -sum(
            log_likelihood(obs, sims[obs.id], self.reporting_error, self.model_var.get(obs.id))
            for obs in self.observations
            if obs.id in sims
        )
        record = {
            "unit": unit,
            "values": {p.name: p.value(u) for p, u in zip(self.params, unit, strict=True)},
            "loss": loss,
            "simulated": {k: [float(x) for x in v] for k, v in sims.items()},
        }
        self.log.add(record)
        if self.on_evaluation:
            self.on_evaluation()
        return record


def pilot_variances(
    objective: Objective, start: Sequence[float], replications: int, path: Path
) -> dict[str, float]:
    """Log-variance of every simulated figure at `start`, from `replications` replications.

    Kept in `path` so that a resumed calibration uses the same values.
    """
    from flowsim.atomic import atomic_write_text

    rounds = math.ceil(objective.replications / max(objective.workers, 1))
    if path.exists():
        kept = json.loads(path.read_text(encoding="utf-8"))
        # What a round of replications over the workers took, for a resumed time budget.
        seconds = float(kept.get("round_seconds", 0.0))
        objective.longest_seconds = max(objective.longest_seconds, rounds * seconds)
        return kept["log_variance"]
    started = time.monotonic()
    scenario = objective.scenario_at(start)
    outputs = map_replications(
        simulate,
        [(scenario, objective.seed, r) for r in range(replications)],
        objective.workers,
        objective.executor,
        # Shown at once: the pilot is the first minutes of a calibration.
        progress=objective.on_evaluation is not None,
        label=f"pilot run ({replications} replications)",
        delay=0.0,
    )
    sims = simulated_from_outputs(scenario, outputs, objective.observations)
    # What an evaluation of `objective.replications` will take, for the time budget.
    per_round = (time.monotonic() - started) / math.ceil(replications / max(objective.workers, 1))
    objective.longest_seconds = max(objective.longest_seconds, rounds * per_round)
    variances = {k: log_variance(v) for k, v in sims.items()}
    record = {"replications": replications, "round_seconds": per_round,
              "log_variance": variances}  # fmt: skip
    atomic_write_text(path, json.dumps(record, indent=1))
    return variances


def horizon_cut(scenario: Scenario, observations: list[Observation]) -> dict:
    """Overrides that end the horizon a day after the last observation window.

    The model is causal, so nothing after the last window can change a simulated figure;
    cutting the horizon there saves the simulation of the rest. Policies that start after
    the cut are dropped, and ends after it are left open.
    """
    import datetime as dt

    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    used = [o for o in observations if status(o, clock) == "ok"]
    if not used:
        return {}
    cut = max(o.end for o in used).astimezone(scenario.horizon.start.tzinfo) + dt.timedelta(days=1)
    cut = cut.replace(minute=0, second=0, microsecond=0)
    if cut >= scenario.horizon.end:
        return {}
    policies: dict[str, dict | None] = {}
    for pid, spec in scenario.policies.items():
        if spec.start > cut:
            policies[pid] = None
        elif spec.end is not None and spec.end > cut:
            policies[pid] = {"end": None}
    return {"horizon": {"end": cut.isoformat()}, "policies": policies}


def simulated_from_outputs(
    scenario: Scenario, outputs, observations: list[Observation]
) -> dict[str, np.ndarray]:
    """Simulated figures per observation from raw replication outputs."""
    from flowsim.results import HourlyArrays

    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    hourly = HourlyArrays.from_outputs(scenario, outputs)
    return {
        obs.id: simulate_observation(obs, hourly, clock)
        for obs in observations
        if status(obs, clock) == "ok"
    }


@dataclass(frozen=True)
class CalibrationResult:
    """The fitted parameters, their uncertainty, and the evaluations it took."""

    #: name, start, fitted, lower, upper, se, ci_low, ci_high, identified, at_bound,
    #: converged, source
    params: pd.DataFrame
    best_unit: list[float]
    best_loss: float
    evaluations: int
    fitted_values: dict[str, float]
    converged: bool = True
    #: why the optimizer stopped, when it did not converge
    stopped: str = ""
    posterior: PosteriorFit | None = None  #: with the posterior method
    free: tuple[FreeParameter, ...] = ()


def _profile(
    objective: Objective, best: np.ndarray, best_loss: float, converged: bool
) -> list[dict]:
    """Each parameter's loss profile around `best`, as far as the budget allows."""
    rows = []
    for i, p in enumerate(objective.params):
        points = {0.0: best_loss}
        for step in (-PROFILE_STEP, PROFILE_STEP):
            u = best.copy()
            u[i] = np.clip(u[i] + step, 0.0, 1.0)
            if u[i] != best[i]:
                with contextlib.suppress(BudgetSpent):  # no evidence on that side
                    points[u[i] - best[i]] = objective(u)
        xs = np.array(sorted(points))
        ys = np.array([points[x] for x in xs])
        # Evidence of a minimum: evaluated on both sides, and higher on both.
        both_sides = xs.size == 3 and ys[0] > ys[1] < ys[2]
        curvature = np.polyfit(xs, ys, 2)[0] * 2 if both_sides else float("nan")
        span = p.upper - p.lower
        if np.isfinite(curvature) and curvature > 0:
            se = span / math.sqrt(curvature)
        else:
            se = float("inf")
        rows.append(_profile_row(p, float(best[i]), se, converged))
    return rows


def _profile_row(p: FreeParameter, unit: float, se: float, converged: bool) -> dict:
    """A row of ``parameters.csv``: the fitted value, its interval and whether it is identified."""
    fitted = p.value(unit)
    span = p.upper - p.lower
    low, high = max(p.lower, fitted - 1.96 * se), min(p.upper, fitted + 1.96 * se)
    at_bound = bool(unit <= AT_BOUND or unit >= 1 - AT_BOUND)
    # At a bound, the bound decides the value, not the data.
    identified = bool(
        converged and np.isfinite(se) and (high - low) < IDENTIFIED_WIDTH * span and not at_bound
    )
    return {
        "name": p.name,
        "start": p.start,
        "fitted": fitted,
        "lower": p.lower,
        "upper": p.upper,
        "se": se,
        "ci_low": low,
        "ci_high": high,
        "identified": identified,
        "at_bound": at_bound,
        "converged": converged,
        "source": p.source,
    }


def inputs_key(
    base: Scenario,
    free: list[FreeParameter],
    observations: list[Observation],
    replications: int,
    seed: int,
    reporting_error: float,
    pilot_replications: int,
) -> dict:
    """Everything an evaluation depends on, as recorded in ``calibration.json``."""
    return {
        "scenario_sha256": scenario_digest(base),
        "observations_sha256": hashlib.sha256(repr(observations).encode("utf-8")).hexdigest(),
        "seed": seed,
        "replications": replications,
        "parameters": {p.name: [p.lower, p.upper, p.start] for p in free},
        "reporting_error": reporting_error,
        "pilot_replications": pilot_replications,
        "flowsim": __version__,
    }


def open_calibration_folder(out: Path, key: dict, restart: bool) -> None:
    """Check that what `out` keeps was made with `key`; record `key` before the first evaluation.

    A difference is refused (`RunError` naming it) or, with `restart`, the log and pilot
    run are removed and the calibration starts afresh.
    """
    from flowsim.atomic import atomic_write_text
    from flowsim.outputs import MARKER, has_marker

    record, kept = out / "calibration.json", [out / "evaluations.jsonl", out / "pilot.json"]
    if any(path.exists() for path in kept):
        before = json.loads(record.read_text(encoding="utf-8")) if has_marker(record) else {}
        inputs = before.get("inputs", {})
        differ = [label for name, label in INPUT_NAMES.items() if inputs.get(name) != key[name]]
        if differ and not restart:
            what = (
                "another " + ", ".join(differ)
                if inputs
                else "inputs it has no record of (no calibration.json)"
            )
            raise RunError(
                f"the evaluations kept here were made with {what}; "
                "pass --force to start afresh, or choose another --out",
                file=str(kept[0]),
            )
        if differ:
            for path in kept:
                path.unlink(missing_ok=True)
    atomic_write_text(record, json.dumps({**MARKER, "inputs": key}, indent=1) + "\n")


def calibrate(
    scenario_path: str,
    observations: list[Observation],
    *,
    params: Sequence[str] | None = None,
    replications: int = 2,
    seed: int | None = None,
    workers: int = 1,
    budget: int = 80,
    out_dir: str | Path,
    overrides: Sequence[str] = (),
    reporting_error: float = REPORTING_ERROR,
    executor: Executor | None = None,
    scheduler: str | None = None,
    progress: Callable[[], None] | None = None,
    pilot_replications: int = 8,
    restart: bool = False,
    force: bool = False,
    method: str = "posterior",
    time_budget: float | None = None,
    reserve_rounds: int = 0,
) -> CalibrationResult:
    """Fit the free parameters; resumable from `out_dir`'s evaluation log.

    `method` ``"posterior"`` samples their posterior (`flowsim.inference.posterior`) after a
    point fit with half the budget; ``"point"`` is the point fit alone, with loss profiles.
    At most `budget` evaluations are made (replayed ones included), and none is started
    that would not end within `time_budget` seconds of the call, keeping time for
    `reserve_rounds` rounds of replications over the workers (a validation run after it).
    Each evaluation's replications run in a pool of `workers` processes, in `executor`
    (left open) or on the Dask scheduler at `scheduler`; the result is the same. A log
    made with other inputs is refused, or removed with `restart`; evaluations estimated
    not to fit in memory are refused unless `force`.
    """
    from flowsim.footprint import check_memory

    deadline = None if time_budget is None else time.monotonic() + time_budget
    if method not in METHODS:
        raise RunError(f"must be one of {', '.join(METHODS)}", field_path="--method")
    if method == "posterior" and pilot_replications < 2:
        raise RunError(
            "the posterior needs the model's variance from a pilot run of at least 2",
            field_path="--pilot-replications",
        )
    base, raw = load_with_origins(scenario_path, overrides)
    check_memory(base, max(replications, pilot_replications), force)
    free = free_parameters(base, params, scenario_path, whole_number_uses(raw))
    out = Path(out_dir)
    run_seed = base.seed if seed is None else seed
    key = inputs_key(
        base, free, observations, replications, run_seed, reporting_error, pilot_replications
    )
    open_calibration_folder(out, key, restart)
    log = EvaluationLog(out / "evaluations.jsonl")
    with open_executor(workers, scheduler, executor=executor) as pool:
        objective = Objective(
            raw,
            free,
            observations,
            replications,
            run_seed,
            workers,
            pool,
            log,
            reporting_error,
            progress,
            horizon_cut(base, observations),
            budget=budget,
            deadline=deadline,
            reserve_rounds=reserve_rounds,
        )
        start = np.array([p.unit(p.start) for p in free])
        if pilot_replications > 1:
            objective.model_var = pilot_variances(
                objective, start, pilot_replications, out / "pilot.json"
            )
        # The profiles need two evaluations per parameter; the waves get half the budget.
        if method == "point":
            point_budget = min(budget, max(budget - 2 * len(free), len(free) + 1))
        else:
            point_budget = max(budget // 2, min(budget, len(free) + 1))
        stopped = _nelder_mead(objective, start, point_budget, budget)
        objective.budget = budget
        best, best_loss = _best(log, objective.visited)
        if method == "point":
            table, best, best_loss, stopped = _profiles(objective, best, best_loss, stopped)
            posterior = None
        else:
            posterior = _posterior(objective, run_seed)
            table = pd.DataFrame(parameter_rows(free, posterior.draws, posterior.chain))
            stopped = posterior.doubt()
    return CalibrationResult(
        params=table,
        best_unit=[float(u) for u in best],
        best_loss=float(best_loss),
        evaluations=len(log.records),
        fitted_values=(
            {p.name: p.value(u) for p, u in zip(free, best, strict=True)}
            if posterior is None
            else dict(zip(table["name"], table["post_median"], strict=True))
        ),
        converged=not stopped,
        stopped=stopped,
        posterior=posterior,
        free=tuple(free),
    )


def _nelder_mead(objective: Objective, start: np.ndarray, budget: int, total: int) -> str:
    """Minimise the objective from `start` with at most `budget` evaluations in the log.

    Returns why it stopped short of convergence ("" if it converged); `total` is the
    calibration's whole budget, as the message names it.
    """
    simplex = [start]
    for i in range(start.size):
        vertex = start.copy()
        vertex[i] = vertex[i] + 0.15 if vertex[i] <= 0.5 else vertex[i] - 0.15
        simplex.append(vertex)
    spent = f"the budget of {total} evaluations was spent before the optimizer converged"
    # Nelder-Mead may overrun its maxfev within an iteration, so the objective itself
    # holds the optimizer to its share.
    objective.budget = budget
    try:
        result = minimize(
            objective,
            start,
            method="Nelder-Mead",
            bounds=[(0.0, 1.0)] * start.size,
            options={
                "maxfev": budget,
                "initial_simplex": np.array(simplex),
                "xatol": 0.01,
                "fatol": 0.05,
            },
        )
    except BudgetSpent:
        return spent
    if result.success:
        return ""
    return spent if result.status == 1 else f"the optimizer failed ({result.message})"


def _profiles(
    objective: Objective, best: np.ndarray, best_loss: float, stopped: str
) -> tuple[pd.DataFrame, np.ndarray, float, str]:
    """The point fit's table from loss profiles, and the best point once they are done."""
    free = objective.params
    table = pd.DataFrame(_profile(objective, best, best_loss, not stopped))
    better, better_loss = _best(objective.log, objective.visited)
    if better_loss < best_loss:  # a profile point beat the optimum: it was no optimum
        stopped = stopped or "a profile evaluation improved on the optimum"
        again = pd.DataFrame(_profile(objective, better, better_loss, converged=False))
        if not np.isfinite(again["se"]).any():
            # No budget was left to profile the better point: the profiles around
            # the optimizer's best, one step away, are the evidence there is.
            rows = zip(free, better, table["se"], strict=True)
            again = pd.DataFrame([_profile_row(p, u, se, False) for p, u, se in rows])
        table, best, best_loss = again, better, better_loss
    return table, best, best_loss, stopped


def _posterior(objective: Objective, seed: int) -> PosteriorFit:
    """Waves of simulations at posterior draws until the budget is spent; the last posterior.

    Each wave's sampler seed derives from `seed` and the wave's number, and each wave's
    emulator from the evidence before it, so a resumed run retraces the same waves.
    """
    ids = tuple(o.id for o in objective.observations if o.id in objective.model_var)
    by_id = {o.id: o for o in objective.observations}
    pilot_var = np.array([objective.model_var[i] for i in ids])
    wave_size = max(WAVE_MIN, 2 * len(objective.params))

    def evidence() -> Evidence:
        return Evidence.from_records([objective.log.get(u) for u in objective.visited], ids)

    def posterior_of(known: Evidence, wave: int, **settings) -> tuple[Emulator, Chain]:
        emulator = fit_emulator(known, pilot_var, objective.replications)
        observed = tuple(by_id[i] for i in ids)
        density = EmulatedLikelihood(emulator, observed, objective.reporting_error)
        start = known.units[int(np.argmin(known.losses))]
        return emulator, sample(density, start, _wave_seed(seed, wave), **settings)

    waves, errors, known = 0, [], evidence()
    chain = None
    while objective.has_time():  # a wave of replayed points costs no budget: try it
        started = time.monotonic()
        emulator, chain = posterior_of(known, waves, steps=KEEP_STEPS)
        # The last sampling runs longer than a wave's, in proportion to its steps.
        scale = (FINAL_BURN + FINAL_STEPS) / (BURN_STEPS + KEEP_STEPS)
        seconds = scale * (time.monotonic() - started)
        objective.sampler_seconds = max(SAMPLER_RESERVE, seconds)
        before = len(objective.visited)
        with contextlib.suppress(BudgetSpent):
            for unit in chain.spread(wave_size, _wave_seed(seed, waves)):
                objective(unit)
        known = evidence()
        fresh = Evidence.from_records(
            [objective.log.get(u) for u in objective.visited[before:]], ids
        )
        if fresh.units.shape[0] == 0:
            break
        waves += 1
        errors.append(standardised_errors(emulator, fresh))
        if fresh.units.shape[0] < wave_size:  # the budget ran out within the wave
            break
    emulator, chain = posterior_of(
        known,
        waves,
        burn=FINAL_BURN,
        steps=FINAL_STEPS,
        initial=None if chain is None else chain.last,
        mixing=True,
        deadline=objective.deadline,
    )
    draws = chain.spread(POSTERIOR_DRAWS, _wave_seed(seed, waves))
    check = emulator_check(np.concatenate(errors) if errors else np.array([]))
    return PosteriorFit(draws, chain, emulator, waves, check, known.units.shape[0])


def _wave_seed(seed: int, wave: int) -> int:
    """A sampler seed for a wave, independent of the simulation streams of `seed`."""
    return int(np.random.SeedSequence([seed, 0x5EED, wave]).generate_state(1)[0])


def _best(log: EvaluationLog, visited: Sequence[Sequence[float]]) -> tuple[np.ndarray, float]:
    """The best of the points visited and its loss.

    (Not the best of the whole log: a resumed run's log also holds the profile points that
    an uninterrupted run had not evaluated yet when it asked.)
    """
    record = min((log.get(unit) for unit in visited), key=lambda r: r["loss"])
    return np.array(record["unit"], dtype=float), float(record["loss"])


def fitted_name(base_name: str) -> str:
    """The name of a fitted scenario: its own, so that its results never pass for the input's."""
    return base_name.removesuffix("_calibrated")[:53] + "_calibrated"


def _wrapped(head: str, ids: Sequence[str]) -> list[str]:
    """Comment lines listing `ids` after `head`, at most about 90 characters each."""
    if not ids:
        return []
    lines, line = [], head
    for i, name in enumerate(ids):
        piece = name + ("," if i < len(ids) - 1 else "")
        if len(line) + len(piece) > 90 and line.strip("# "):
            lines.append(line.rstrip())
            line = "#   "
        line += piece + " "
    return [*lines, line.rstrip()]


def write_posterior(out: Path, result: CalibrationResult, figures: dict[str, bytes]) -> None:
    """``posterior.csv``, ``posterior.json`` and the posterior figures, each atomically."""
    from flowsim.atomic import atomic_write_bytes, atomic_write_text
    from flowsim.inference.posterior import posterior_frame
    from flowsim.outputs import MARKER

    fit = result.posterior
    assert fit is not None
    frame = posterior_frame(result.free, fit.draws)
    atomic_write_text(out / "posterior.csv", frame.to_csv(index=False, float_format="%.8g"))
    record = {**MARKER, "parameters": [p.name for p in result.free], **fit.diagnostics()}
    atomic_write_text(out / "posterior.json", json.dumps(record, indent=1) + "\n")
    for name, data in figures.items():
        atomic_write_bytes(out / name, data)


def fitted_yaml(
    scenario_path: Path,
    out_file: Path,
    result: CalibrationResult,
    command: Sequence[str],
    name: str,
    base: Scenario,
    held_out: Sequence[str] = (),
    posterior_file: Path | None = None,
) -> str:
    """A scenario extending the input that sets the fitted values (runnable with `flowsim run`).

    `base` is the input as calibrated (overrides included); the header records its digest.
    With a posterior, the file names `posterior_file` (where `write_posterior` put it).
    """
    import os

    relative = os.path.relpath(scenario_path.resolve(), out_file.resolve().parent)
    if result.posterior is not None:
        assert posterior_file is not None
        posterior = os.path.relpath(posterior_file.resolve(), out_file.resolve().parent)
        return _posterior_yaml(result, command, name, base, held_out, relative, posterior)
    if result.converged:
        verdict = f"# Negative log-likelihood at the optimum: {result.best_loss:.3f}"
    else:
        verdict = (
            f"# NOT CONVERGED: {result.stopped}.\n"
            f"# Negative log-likelihood at the best point evaluated: {result.best_loss:.3f}"
        )
    lines = [
        f"{FITTED_HEADER}; do not edit by hand, rerun instead:",
        f"#   {shlex.join(command)}",
        f"{verdict} ({result.evaluations} evaluations).",
        "# Parameters marked 'not identified' are not pinned down by the observations.",
        base_line(base),
        *_wrapped("# Held out of the calibration (not tuned on): ", held_out),
        f"extends: {relative}",
        f"name: {name}",
        "parameters:",
    ]
    for row in result.params.itertuples():
        verdict = "identified" if row.identified else "NOT identified"
        if row.at_bound:
            verdict += " (at its bound)"
        elif math.isfinite(row.se) and (row.ci_low <= row.lower or row.ci_high >= row.upper):
            verdict += " (interval cut by a bound)"
        interval = (
            f"95% ~ [{row.ci_low:.4g}, {row.ci_high:.4g}]"
            if math.isfinite(row.se)
            else "no profile evidence"
        )
        lines.append(
            f"  {row.name}: {{value: {row.fitted:.6g}}}  # {verdict}; {interval}; "
            f"started at {row.start:.4g}"
        )
    return "\n".join(lines) + "\n"


def _posterior_yaml(
    result: CalibrationResult,
    command: Sequence[str],
    name: str,
    base: Scenario,
    held_out: Sequence[str],
    extends: str,
    posterior: str,
) -> str:
    """`fitted_yaml` for the posterior method: the medians, and the posterior file named."""
    fit = result.posterior
    assert fit is not None
    doubt = f"# DOUBTFUL: {result.stopped}.\n" if result.stopped else ""
    lines = [
        f"{FITTED_HEADER}; do not edit by hand, rerun instead:",
        f"#   {shlex.join(command)}",
        f"{doubt}# Posterior from {fit.evidence} simulated points ({fit.waves} waves of "
        f"posterior draws, {result.evaluations} evaluations).",
        "# Values: posterior medians (used with --parameters point); replication r of a run",
        "# takes draw r of the posterior below. 'moved' means the data narrowed the prior.",
        base_line(base),
        *_wrapped("# Held out of the calibration (not tuned on): ", held_out),
        f"extends: {extends}",
        f"name: {name}",
        f"posterior: {posterior}",
        "parameters:",
    ]
    for row in result.params.itertuples():
        moved = "moved" if row.moved_by_data else "NOT moved from its prior"
        lines.append(
            f"  {row.name}: {{value: {row.post_median:.6g}}}  # 90% [{row.post_ci_low:.4g}, "
            f"{row.post_ci_high:.4g}] of prior [{row.lower:.4g}, {row.upper:.4g}]; {moved}"
        )
    return "\n".join(lines) + "\n"

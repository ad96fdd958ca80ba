"""Simulation-based calibration: whether the posterior method finds parameters it knows.

On the model itself: draw a parameter vector from the prior, simulate the observed
figures with it (one replication, on streams no evaluation uses) and add the reporting
error; then infer the parameters from those synthetic figures as `flowsim calibrate`
does, and ask whether each true value falls inside its 90% credible interval. Over many
synthetic data sets, a method that is right covers about 90% of them; the rank of each
true value among its posterior draws is then uniform.

At a reduced budget. A calibration's simulations are chosen by its data, so each data
set would cost a calibration. Here every data set shares one design: a scrambled Sobol'
sample of the prior, simulated once (each point on streams of its own); the emulator
fitted to it and the sampler are those of the posterior method, without its waves. The
prior is the parameters' bounds, or (``box``) a box around a posterior found before, for
the parameter region that matters: truths are drawn from the same box the inference
takes as its prior, as SBC requires. Synthetic figures are exact values (the censoring
of bounds and ranges is tested apart).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from flowsim.errors import RunError
from flowsim.executors import open_executor
from flowsim.inference.calibration import (
    EvaluationLog,
    FreeParameter,
    Objective,
    free_parameters,
    horizon_cut,
    inputs_key,
    open_calibration_folder,
    pilot_variances,
    simulated_from_outputs,
)
from flowsim.inference.emulator import Emulator
from flowsim.inference.likelihood import REPORTING_ERROR
from flowsim.inference.observations import Observation
from flowsim.inference.posterior import (
    CREDIBLE,
    Chain,
    EmulatedLikelihood,
    Evidence,
    fit_emulator,
    sample,
)
from flowsim.runner import map_replications, simulate
from flowsim.scenario.loader import load_with_origins, whole_number_uses

#: What `flowsim sbc` writes beside the design's evaluation log.
SBC_FILES = ("sbc.csv", "sbc_summary.csv", "sbc_ranks.png")
#: Synthetic truths use replications from here on, so they share no stream with the design.
TRUTH_STREAMS = 1_000_000
#: A box around a posterior: its 1st to 99th percentiles, widened by this share each side.
BOX_MARGIN = 0.5
#: Steps of each data set's chain, a quarter of them burn-in, with the posterior's
#: differential-evolution moves (on the historical model its chains' autocorrelation
#: times were 47-136 steps, so 6,000 kept steps are 44-127 of them).
CHAIN_STEPS = 8000


@dataclass(frozen=True)
class SbcResult:
    """Per data set and parameter: the truth, its interval, whether it was covered, its rank."""

    table: pd.DataFrame
    box: tuple[FreeParameter, ...]

    @property
    def coverage(self) -> float:
        """Share of (data set, parameter) pairs whose truth is inside its 90% interval."""
        return float(self.table["covered"].mean())

    def by_parameter(self) -> pd.DataFrame:
        """Coverage and mean rank (0.5 if uniform) per parameter."""
        grouped = self.table.groupby("parameter", sort=False)
        return pd.DataFrame(
            {"coverage": grouped["covered"].mean(), "mean_rank": grouped["rank"].mean()}
        ).reset_index()


def read_box(path: str | Path) -> pd.DataFrame:
    """A ``posterior.csv`` to draw the box from: numeric, finite columns, checked."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise RunError(f"cannot read it: {err}", file=str(path)) from None
    columns = [c for c in frame.columns if c != "draw"]
    if frame.empty or not columns:
        raise RunError("no draws in it", file=str(path), field_path="--box")
    for name in columns:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
        if not np.isfinite(values).all():
            raise RunError(f"column {name!r} needs a finite number in every row", file=str(path))
    return frame


def posterior_box(free: Sequence[FreeParameter], posterior: pd.DataFrame) -> list[FreeParameter]:
    """The parameters with bounds narrowed to a box around `posterior`'s draws."""
    unknown = [c for c in posterior.columns if c != "draw" and c not in {p.name for p in free}]
    if unknown:
        raise RunError(f"column {unknown[0]!r} is not a calibrated parameter", field_path="--box")
    out = []
    for p in free:
        if p.name not in posterior:
            out.append(p)
            continue
        low, high = np.quantile(posterior[p.name].to_numpy(float), [0.01, 0.99])
        pad = BOX_MARGIN * max(high - low, 1e-9 * (p.upper - p.lower))
        lower, upper = max(p.lower, low - pad), min(p.upper, high + pad)
        start = float(np.clip(p.start, lower, upper))
        out.append(replace(p, lower=float(lower), upper=float(upper), start=start))
    return out


def synthetic(obs: Observation, value: float) -> Observation:
    """`obs` as an exact report of `value`."""
    return replace(obs, value=value, low=None, high=None)


def simulation_based_calibration(
    scenario_path: str,
    observations: list[Observation],
    *,
    datasets: int = 20,
    design: int = 64,
    replications: int = 2,
    seed: int | None = None,
    workers: int = 1,
    out_dir: str | Path,
    posterior: pd.DataFrame | None = None,
    reporting_error: float = REPORTING_ERROR,
    pilot_replications: int = 8,
    chain_steps: int = CHAIN_STEPS,
    executor=None,
    restart: bool = False,
) -> SbcResult:
    """Run the check; the design's simulations are kept in `out_dir` and replayed on a rerun.

    `design` points of `replications` each fit the emulator; `datasets` synthetic data
    sets are inferred from it, each by a chain of `chain_steps` (in the pool). With
    `posterior` (a ``posterior.csv`` frame), the prior is `posterior_box` of it. `out_dir`
    is kept as a calibration's folder is: a rerun with other inputs is refused, or with
    `restart` starts afresh.
    """
    if chain_steps < 100:
        raise RunError("must be at least 100", field_path="--chain-steps")
    if pilot_replications < 2:
        raise RunError(
            "the check needs the model's variance from a pilot run of at least 2",
            field_path="--pilot-replications",
        )
    base, raw = load_with_origins(scenario_path)
    free = free_parameters(base, None, scenario_path, whole_number_uses(raw))
    box = posterior_box(free, posterior) if posterior is not None else free
    run_seed = base.seed if seed is None else seed
    out = Path(out_dir)
    key = inputs_key(
        base, box, observations, replications, run_seed, reporting_error, pilot_replications
    )
    open_calibration_folder(out, key, restart)
    with open_executor(workers, executor=executor) as pool:
        objective = Objective(
            raw,
            box,
            observations,
            replications,
            run_seed,
            workers,
            pool,
            EvaluationLog(out / "evaluations.jsonl"),
            reporting_error,
            horizon_cut=horizon_cut(base, observations),
        )
        centre = np.full(len(box), 0.5)
        objective.model_var = pilot_variances(
            objective, centre, pilot_replications, out / "pilot.json"
        )
        emulator = _design_emulator(objective, design)
        rng = np.random.default_rng([run_seed, datasets])
        truths = rng.uniform(size=(datasets, len(box)))
        outputs = map_replications(
            simulate,
            [(objective.scenario_at(u), run_seed, TRUTH_STREAMS + k) for k, u in enumerate(truths)],
            workers,
            pool,
            progress=False,
        )
        # Each data set's chain runs in the pool too: they are independent.
        densities = [
            EmulatedLikelihood(
                emulator, _reported(objective, t, o, emulator.ids, rng), reporting_error
            )
            for t, o in zip(truths, outputs, strict=True)
        ]
        futures = [
            pool.submit(_infer, density, int(rng.integers(2**31)), chain_steps)
            for density in densities
        ]
        chains = [f.result() for f in futures]
    rows = []
    for k, (truth, chain) in enumerate(zip(truths, chains, strict=True)):
        rows.extend(_coverage_rows(k, box, truth, chain.spread(1000, k), chain.autocorrelation))
    return SbcResult(pd.DataFrame(rows), tuple(box))


def _infer(density: EmulatedLikelihood, seed: int, steps: int) -> Chain:
    """The posterior of one synthetic data set, by the sampler of the posterior's last chain.

    The walkers start at the centre of the box, not at a wave's walkers: a quarter of the
    `steps` is burn-in.
    """
    d = len(density.emulator.centre)
    burn = steps // 4
    return sample(density, np.full(d, 0.5), seed, burn=burn, steps=steps - burn, mixing=True)


def _design_emulator(objective: Objective, points: int) -> Emulator:
    """The emulator fitted to a scrambled Sobol' design of `points` in the prior box.

    Unlike a calibration's evaluations, each point runs on streams of its own, so that
    the emulator averages the replication noise out instead of following one draw of it.
    The points are kept in the objective's log and replayed on a rerun.
    """
    from scipy.stats import qmc

    d = len(objective.params)
    # A power of two keeps the Sobol' sample balanced; the first `points` of it are used.
    units = qmc.Sobol(d, scramble=True, seed=objective.seed).random(1 << (points - 1).bit_length())
    units = [[float(u) for u in unit] for unit in units[:points]]
    missing = [i for i, u in enumerate(units) if objective.log.get(u) is None]
    r = objective.replications
    outputs = map_replications(
        simulate,
        [
            (objective.scenario_at(units[i]), objective.seed, i * r + k)
            for i in missing
            for k in range(r)
        ],
        objective.workers,
        objective.executor,
        progress=False,
    )
    for n, i in enumerate(missing):
        scenario = objective.scenario_at(units[i])
        sims = simulated_from_outputs(
            scenario, outputs[n * r : (n + 1) * r], objective.observations
        )
        values = {k: [float(x) for x in v] for k, v in sims.items()}
        objective.log.add({"unit": units[i], "loss": 0.0, "simulated": values})
    ids = tuple(o.id for o in objective.observations if o.id in objective.model_var)
    evidence = Evidence.from_records([objective.log.get(u) for u in units], ids)
    pilot_var = np.array([objective.model_var[i] for i in ids])
    return replace(fit_emulator(evidence, pilot_var, r), common_streams=False)


def _reported(
    objective: Objective, truth: np.ndarray, output, ids: Sequence[str], rng: np.random.Generator
) -> tuple[Observation, ...]:
    """The figures `ids` of one replication at `truth`, as reported with reporting error."""
    by_id = {o.id: o for o in objective.observations}
    scenario = objective.scenario_at(truth)
    figures = simulated_from_outputs(scenario, [output], [by_id[i] for i in ids])
    noise = rng.normal(0.0, objective.reporting_error, len(ids))
    return tuple(
        synthetic(by_id[i], max(0.0, math.expm1(math.log1p(max(figures[i][0], 0.0)) + e)))
        for i, e in zip(ids, noise, strict=True)
    )


def _coverage_rows(
    dataset: int,
    box: Sequence[FreeParameter],
    truth: np.ndarray,
    draws: np.ndarray,
    autocorrelation: np.ndarray,
) -> list[dict]:
    """Per parameter: the truth, the posterior median and 90% interval, coverage and rank."""
    tail = (1 - CREDIBLE) / 2
    rows = []
    for i, p in enumerate(box):
        low, median, high = np.quantile(draws[:, i], [tail, 0.5, 1 - tail])
        rows.append(
            {
                "dataset": dataset,
                "parameter": p.name,
                "truth": p.value(truth[i]),
                "post_median": p.value(median),
                "ci_low": p.value(low),
                "ci_high": p.value(high),
                "covered": bool(low <= truth[i] <= high),
                "rank": float(np.mean(draws[:, i] < truth[i])),
                "autocorrelation_steps": float(autocorrelation[i]),
            }
        )
    return rows

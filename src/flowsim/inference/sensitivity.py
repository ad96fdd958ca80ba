"""What drives each counterfactual effect: a variance decomposition over the inputs.

The inputs are every parameter with a plausible range: the calibrated ones drawn jointly
from the baseline's posterior (so their correlations are kept), the others (the marked
assumptions and the bounded facts) uniformly over their bounds by a Latin hypercube, and
a dummy input that the model never reads. Each design point runs the baseline and every
counterfactual once, on the same streams (replication ``i`` for point ``i``), so an
effect is paired on common random numbers as in `flowsim.compare`.

The first-order index of an input is the share of the effect's variance over the design
that its value alone explains, Var(E[effect | input]) / Var(effect), estimated from the
design by a smooth main-effect regression (`first_order`). One design serves every
input, which is what today's speed affords: Sobol' indices by Saltelli's scheme would
need N(d+2) points (forty times more for forty inputs), Morris screening r(d+1) points
and ranks inputs without a share of the variance, and a given-data Fourier estimator
(RBD-FAST) left a dummy input an index of 0.15 +- 0.48 at 48 points where the
regression's noise is about 2/N. An input drives
an effect when the regression's F test finds its main effect at 5% family-wise over the
inputs; the dummy shows what the estimator finds in an input that does nothing.
Replication noise (what no input explains) is measured apart, by
`noise_replications` runs of the scenarios as written on streams of their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flowsim.compare import check_comparable
from flowsim.engine.model import Aggregates
from flowsim.errors import RunError, ScenarioError
from flowsim.executors import open_executor
from flowsim.monitor import FLOW_METRICS
from flowsim.parameter_draws import read_posterior, with_values
from flowsim.runner import map_replications, simulate
from flowsim.scenario import Scenario, dump_resolved
from flowsim.scenario.loader import whole_number_uses

ALL_COUNTRIES = "all countries"
DUMMY = "(dummy)"
#: Bootstrap resamples of the design behind each index's interval.
BOOTSTRAP = 200
#: Coefficients of each input's main-effect regression (constant, linear, square).
QUADRATIC = 3
#: Family-wise level of ``drives``: over an effect's inputs, Bonferroni-corrected.
LEVEL = 0.05
#: Fewest design points: a quadratic in each input needs a few points per coefficient.
MIN_POINTS = 12
#: What `flowsim sensitivity` writes beside its evaluation log.
SENSITIVITY_FILES = (
    "design.csv",
    "sensitivity.csv",
    "sensitivity_summary.csv",
    "sensitivity.png",
    "metadata.json",
)


@dataclass(frozen=True)
class Input:
    """One input of the design: a parameter (or the dummy) and how it is drawn."""

    name: str
    kind: str  #: "posterior", "assumption", "fact" or "dummy"
    lower: float
    upper: float
    source: str
    whole: bool = False  #: sets a whole-number field (e.g. lanes): drawn among the integers


@dataclass(frozen=True)
class Sensitivity:
    """The design with its effects, the indices, and a summary per headline effect."""

    design: pd.DataFrame  #: a row per point: ``point``, ``draw``, the inputs, the effects
    indices: pd.DataFrame  #: a row per (effect, input), see `first_order_table`
    summary: pd.DataFrame  #: a row per effect, see `summary_table`
    inputs: tuple[Input, ...]


def sensitivity_inputs(
    base: Scenario, others: Sequence[Scenario], ranges: Mapping[str, tuple[float, float]] = {}
) -> list[Input]:
    """The inputs: bounded parameters the scenarios share, the posterior's, and the dummy.

    A parameter that a counterfactual sets differently from the baseline is the policy
    being compared, not an uncertain input, so it is left out. `ranges` replaces the
    bounds of parameters the posterior does not draw (``--range NAME=LOW:HIGH``).
    """
    for name, (low, high) in ranges.items():
        if name not in base.parameters:
            raise RunError(f"unknown parameter {name!r}", field_path="--range")
        if not low < high:
            raise RunError(f"{name}: {low:g} is not below {high:g}", field_path="--range")
    draws = read_posterior(base) if base.posterior else {}
    whole = whole_number_uses(base._raw) if base._raw is not None else {}
    levers = {
        name
        for other in others
        for name, p in base.parameters.items()
        if name not in other.parameters or other.parameters[name].value != p.value
    }
    if clash := sorted(levers & set(ranges)):
        raise RunError(
            f"{clash[0]!r} is set differently by a counterfactual, so it is the policy compared, "
            "not an input to vary",
            field_path="--range",
        )
    inputs = []
    for name, p in base.parameters.items():
        if name in levers:
            continue
        if name in draws:
            if name in ranges:
                raise RunError(
                    f"{name!r} is drawn from the posterior, so its range is the posterior's",
                    field_path="--range",
                )
            low, high = float(draws[name].min()), float(draws[name].max())
            inputs.append(Input(name, "posterior", low, high, p.source))
            continue
        low, high = ranges.get(name, (p.lower, p.upper))
        if low is not None and high is not None and low < high:
            kind = "assumption" if "assumption" in p.source.lower() else "fact"
            inputs.append(Input(name, kind, low, high, p.source, name in whole))
    if not inputs:
        raise RunError(
            "no parameter has a plausible range (lower < upper) or a posterior to vary",
            file=base.name,
            field_path="parameters",
        )
    return [*inputs, Input(DUMMY, "dummy", 0.0, 1.0, "never read by the model")]


def sensitivity_design(
    inputs: Sequence[Input], draws: dict[str, np.ndarray], points: int, seed: int
) -> pd.DataFrame:
    """`points` rows of input values: posterior rows drawn whole, the rest a Latin hypercube."""
    from scipy.stats import qmc

    rng = np.random.default_rng([seed, points])
    joint = [i for i in inputs if i.kind == "posterior"]
    spread = [i for i in inputs if i.kind != "posterior"]
    frame = pd.DataFrame({"point": np.arange(points)})
    if joint:
        available = min(draws[i.name].size for i in joint)
        if points > available:
            raise RunError(
                f"{points} points need as many posterior draws; the posterior has {available}",
                field_path="--points",
            )
        rows = rng.choice(available, size=points, replace=False)
        frame["draw"] = rows
        for i in joint:
            frame[i.name] = draws[i.name][rows]
    units = qmc.LatinHypercube(len(spread), seed=rng).random(points)
    for k, i in enumerate(spread):
        if i.whole:
            frame[i.name] = np.minimum(
                np.floor(i.lower + units[:, k] * (i.upper - i.lower + 1)), i.upper
            )
        else:
            frame[i.name] = i.lower + units[:, k] * (i.upper - i.lower)
    return frame


def country_entries(
    scenario: Scenario, seed: int, replication: int, values: dict[str, float] | None
) -> dict[str, float]:
    """Persons admitted over the horizon per country, in one replication at `values`."""
    output: Aggregates = simulate(scenario, seed, replication, values=values)
    entries = output.flows[FLOW_METRICS.index("entries")].sum(axis=1)
    out: dict[str, float] = {}
    for cp, total in zip(scenario.checkpoints.values(), entries, strict=True):
        out[cp.country] = out.get(cp.country, 0.0) + float(total)
    out[ALL_COUNTRIES] = float(entries.sum())
    return out


def sensitivity(
    scenarios: Sequence[Scenario],
    *,
    points: int = 64,
    noise_replications: int = 6,
    seed: int | None = None,
    workers: int = 1,
    out_dir: str | Path,
    ranges: Mapping[str, tuple[float, float]] = {},
    restart: bool = False,
    executor=None,
    progress=None,
) -> Sensitivity:
    """Run the design for the baseline (first) and each counterfactual, and analyse it.

    Every simulation is kept in ``out_dir/evaluations.jsonl`` as soon as its point is done,
    and replayed by a rerun with the same inputs (a rerun with others is refused, or with
    `restart` starts afresh). `ranges` narrows or widens parameters' bounds (see
    `sensitivity_inputs`). `progress` is called as each point is done (or replayed).
    """
    from flowsim.inference.calibration import EvaluationLog

    if len(scenarios) < 2:
        raise RunError("needs a baseline and at least one counterfactual", field_path="SCENARIOS")
    if points < MIN_POINTS:
        raise RunError(f"must be at least {MIN_POINTS}", field_path="--points")
    if noise_replications == 1:
        raise RunError("must be 0 (none) or at least 2", field_path="--noise-replications")
    names = _names(scenarios)
    base, others = scenarios[0], list(scenarios[1:])
    for other in others:
        check_comparable(base, other)
    run_seed = base.seed if seed is None else seed
    inputs = sensitivity_inputs(base, others, ranges)
    draws = read_posterior(base) if base.posterior else {}
    design = sensitivity_design(inputs, draws, points, run_seed)
    out = Path(out_dir)
    _open_folder(out, _inputs_key(scenarios, inputs, points, noise_replications, run_seed), restart)
    log = EvaluationLog(out / "evaluations.jsonl")
    varied = [i.name for i in inputs if i.kind != "dummy"]
    runs = [(i, {n: float(design.at[i, n]) for n in varied}) for i in range(points)]
    runs += [(points + k, None) for k in range(noise_replications)]
    for replication, values in runs:
        if values and log.get([replication, *values.values()]) is None:
            _check_point(scenarios, replication, values)
    records = []
    with open_executor(workers, executor=executor) as pool:
        for replication, values in runs:
            unit = [replication, *(values or {}).values()]
            record = log.get(unit)
            if record is None:
                totals = map_replications(
                    country_entries,
                    [(s, run_seed, replication, values) for s in scenarios],
                    workers,
                    pool,
                    progress=False,
                )
                record = {"unit": unit, "entries": dict(zip(names, totals, strict=True))}
                log.add(record)
            records.append(record)
            if progress is not None:
                progress()
    effects = _effects(records, scenarios)
    design = pd.concat([design, effects.iloc[:points].reset_index(drop=True)], axis=1)
    noise = effects.iloc[points:]
    indices = first_order_table(design, inputs, list(effects.columns), run_seed)
    return Sensitivity(design, indices, summary_table(design, noise, indices), tuple(inputs))


def _check_point(scenarios: Sequence[Scenario], point: int, values: dict[str, float]) -> None:
    """Refuse, before anything runs, a design point that makes a scenario invalid.

    Bounds are each parameter's alone: together (shares that must sum to at most 1) they
    can leave the scenario's domain.
    """
    for scenario in scenarios:
        try:
            with_values(scenario, values)
        except ScenarioError as err:
            raise RunError(
                f"design point {point} makes scenario {scenario.name!r} invalid ({err}); "
                "narrow the ranges of the parameters involved",
                field_path="--range",
            ) from None


def _names(scenarios: Sequence[Scenario]) -> list[str]:
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise RunError(
            f"scenario names must differ, got {', '.join(names)}", field_path="SCENARIOS"
        )
    return names


def _effects(records: list[dict], scenarios: Sequence[Scenario]) -> pd.DataFrame:
    """Per run: each counterfactual's effect on all countries and on the country it targets.

    The targeted country is the one whose entries the counterfactual changes most on
    average over the runs.
    """
    base = scenarios[0].name
    columns = {}
    for other in scenarios[1:]:
        diff = pd.DataFrame(
            [
                {c: r["entries"][other.name][c] - r["entries"][base][c] for c in r["entries"][base]}
                for r in records
            ]
        )
        countries = diff.drop(columns=ALL_COUNTRIES)
        target = str(countries.mean().abs().idxmax())
        columns[effect_label(other.name, ALL_COUNTRIES)] = diff[ALL_COUNTRIES]
        columns[effect_label(other.name, target)] = diff[target]
    return pd.DataFrame(columns)


def effect_label(scenario: str, country: str) -> str:
    """The column of an effect in ``design.csv``: ``scenario: country``."""
    return f"{scenario}: {country}"


def first_order(
    x: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First-order indices of `y` on each column of `x`, their 95% half-widths and p-values.

    The index of column k is the adjusted R² of ``y ~ 1 + x_k + x_k²``: the share of
    Var(y) that a smooth function of x_k alone explains (a main effect sharper than a
    quadratic is under-, never over-estimated, on average). The half-width is 1.96
    bootstrap standard deviations over the points; the p-value is the regression's F test
    against no main effect. NaN where `y` does not vary.
    """
    from scipy import stats

    n, d = x.shape
    if not np.ptp(y) > 0:
        return (np.full(d, np.nan),) * 3
    rng = np.random.default_rng(seed)
    resamples = np.vstack([np.arange(n), rng.integers(0, n, size=(BOOTSTRAP, n))])
    s1 = np.empty((BOOTSTRAP + 1, d))
    for k in range(d):
        z = (x[:, k] - x[:, k].mean()) / (x[:, k].std() or 1.0)
        s1[:, k] = _adjusted_r2(np.stack([np.ones(n), z, z * z], axis=1)[resamples], y[resamples])
    r2 = 1 - (1 - s1[0]) * (n - QUADRATIC) / (n - 1)
    f = (r2 / (QUADRATIC - 1)) / ((1 - r2) / (n - QUADRATIC))
    return s1[0], 1.96 * s1[1:].std(axis=0, ddof=1), stats.f.sf(f, QUADRATIC - 1, n - QUADRATIC)


def _adjusted_r2(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Adjusted R² of least squares on each of a batch: features [batch, n, p], y [batch, n]."""
    n, p = features.shape[1:]
    gram = np.einsum("bni,bnj->bij", features, features) + 1e-12 * np.eye(p)
    coef = np.linalg.solve(gram, np.einsum("bni,bn->bi", features, y)[..., None])[..., 0]
    residual = y - np.einsum("bni,bi->bn", features, coef)
    total = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1 - (residual**2).sum(axis=1) / total
    return 1 - (1 - r2) * (n - 1) / (n - p)


def first_order_table(
    design: pd.DataFrame, inputs: Sequence[Input], effects: Sequence[str], seed: int
) -> pd.DataFrame:
    """Per effect and input: ``s1``, ``s1_conf`` (95% half-width), ``p_value``, rank, ``drives``.

    An input drives an effect when its main effect is significant at `LEVEL` family-wise
    over the effect's inputs (Bonferroni). The dummy's column is drawn like the
    assumptions' but never read by the model: it shows what the estimator finds in an
    input that does nothing.
    """
    units = design[[i.name for i in inputs]].to_numpy(float)
    tests = sum(i.kind != "dummy" for i in inputs)
    rows = []
    for k, effect in enumerate(effects):
        s1, conf, p_value = first_order(units, design[effect].to_numpy(float), seed + k)
        rank = pd.Series(-s1).rank(method="min").to_numpy()
        scenario, country = effect.split(": ", 1)
        for j, i in enumerate(inputs):
            rows.append(
                {
                    "scenario": scenario,
                    "country": country,
                    "input": i.name,
                    "kind": i.kind,
                    "s1": s1[j],
                    "s1_conf": conf[j],
                    "p_value": p_value[j],
                    "rank": rank[j],
                    "drives": bool(i.kind != "dummy" and p_value[j] < LEVEL / tests),
                    "source": i.source,
                }
            )
    return pd.DataFrame(rows)


def summary_table(design: pd.DataFrame, noise: pd.DataFrame, indices: pd.DataFrame) -> pd.DataFrame:
    """Per effect: its spread over the design, the replication noise's share, the drivers."""
    rows = []
    for effect in noise.columns:
        y = design[effect].to_numpy(float)
        scenario, country = effect.split(": ", 1)
        mine = indices[(indices["scenario"] == scenario) & (indices["country"] == country)]
        real = mine[mine["kind"] != "dummy"].sort_values("s1", ascending=False)
        drivers = real[real["drives"]]
        noise_var = noise[effect].var(ddof=1) if len(noise) >= 2 else np.nan
        total_var = y.var(ddof=1)
        rows.append(
            {
                "scenario": scenario,
                "country": country,
                "effect_mean": y.mean(),
                "effect_p05": np.quantile(y, 0.05),
                "effect_p95": np.quantile(y, 0.95),
                "noise_share": noise_var / total_var if total_var > 0 else np.nan,
                # Unclipped, so that the inputs' noise averages out; correlated posterior
                # inputs each count the variance they share, so the sum may pass 1.
                "s1_sum": real["s1"].sum(),
                "dummy_s1": float(mine.loc[mine["kind"] == "dummy", "s1"].iloc[0]),
                "drivers": "; ".join(f"{r.input} ({r.s1:.2f})" for r in drivers.itertuples()),
            }
        )
    return pd.DataFrame(rows)


def _inputs_key(
    scenarios: Sequence[Scenario],
    inputs: Sequence[Input],
    points: int,
    noise_replications: int,
    seed: int,
) -> dict:
    """Everything the simulations depend on, as recorded in ``sensitivity.json``."""
    from flowsim import __version__
    from flowsim.parameter_draws import posterior_record

    digest = hashlib.sha256()
    for s in scenarios:
        digest.update(dump_resolved(s).encode())
    posterior = posterior_record(scenarios[0])["sha256"] if scenarios[0].posterior else None
    return {
        "scenarios_sha256": digest.hexdigest(),
        "posterior_sha256": posterior,
        "inputs": {i.name: [i.kind, i.lower, i.upper] for i in inputs},
        "points": points,
        "noise_replications": noise_replications,
        "seed": seed,
        "flowsim": __version__,
    }


def _open_folder(out: Path, key: dict, restart: bool) -> None:
    """Check that the log kept in `out` was made with `key` (or, with `restart`, drop it)."""
    from flowsim.atomic import atomic_write_text
    from flowsim.outputs import MARKER, has_marker

    record, log = out / "sensitivity.json", out / "evaluations.jsonl"
    if log.exists():
        before = json.loads(record.read_text(encoding="utf-8")) if has_marker(record) else {}
        differ = [k for k in key if before.get("inputs", {}).get(k) != key[k]]
        if differ and not restart:
            raise RunError(
                f"the simulations kept here were made with other {', '.join(differ)}; pass "
                "--force to start afresh, or choose another --out",
                file=str(log),
            )
        if differ:
            log.unlink()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps({**MARKER, "inputs": key}, indent=1) + "\n")


def metadata(
    scenarios: Sequence[Scenario],
    result: Sensitivity,
    command: str,
    files: Sequence[str],
    seed: int | None,
) -> dict:
    """What ``metadata.json`` records: the command, seed, version, commit and the inputs."""
    import datetime as dt
    import platform

    from flowsim import __version__
    from flowsim.outputs import MARKER
    from flowsim.parameter_draws import posterior_record
    from flowsim.runner import git_commit

    base = scenarios[0]
    return {
        **MARKER,
        "command": command,
        "scenario_files": list(files),
        "scenarios_sha256": {
            s.name: hashlib.sha256(dump_resolved(s).encode()).hexdigest() for s in scenarios
        },
        "posterior": posterior_record(base) if base.posterior else None,
        "seed": base.seed if seed is None else seed,
        "points": len(result.design),
        "inputs": [
            {"name": i.name, "kind": i.kind, "lower": i.lower, "upper": i.upper}
            for i in result.inputs
        ],
        "version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }

"""The ``flowsim`` command: thin subcommands over the Python API.

Only this module prints or exits. A `FlowsimError` becomes one line on stderr and
exit status 2; argparse usage errors also exit with 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from flowsim import __version__
from flowsim.errors import FlowsimError, RunError
from flowsim.outputs import (
    check_file,
    check_folder,
    check_resume_folder,
    check_work_folder,
    starts_with,
)

#: BLAS's thread settings: a user's, if any of them is set, wins
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: The formats every figure is written in.
FORMATS = ("png", "svg")
#: Replications of each calibration evaluation unless -n says otherwise.
CALIBRATION_REPLICATIONS = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def _duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``45m``, ``2h`` or ``1h30m``."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"expected a duration such as 2h30m or 90s, got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0 s, got {text!r}")
    return total


_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):\d{1,5}$")


def _scheduler_address(text: str) -> str:
    if not _ADDRESS.match(text):
        raise argparse.ArgumentTypeError(
            f"expected an address such as tcp://10.0.0.5:8786, got {text!r}"
        )
    return text


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _range(text: str) -> tuple[str, tuple[float, float]]:
    name, _, bounds = text.partition("=")
    low, _, high = bounds.partition(":")
    try:
        values = (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=LOW:HIGH, got {text!r}") from None
    if not name or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected NAME=LOW:HIGH, got {text!r}")
    return name, values


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63-1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit status 2), like any other error."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("flowsim").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"flowsim: error: {where}{message} (see {self.prog} --help)\n")


def _add_run_options(
    p: argparse.ArgumentParser, replications: str = "default: the scenario's"
) -> None:
    p.add_argument("--replications", "-n", type=_positive_int, help=replications)
    p.add_argument("--seed", type=_seed, help="default: the scenario's")
    p.add_argument("--workers", "-j", type=_positive_int, help="processes (default: all cores)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        type=_scheduler_address,
        help="run replications on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs flowsim[dask])",
    )
    _add_set(p, "override a scenario field, e.g. demand.choice.hours_weight=0.2 (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_force(p)


def _add_set(p: argparse.ArgumentParser, text: str | None = None) -> None:
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE", help=text
    )


def _add_parameters(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--parameters",
        choices=("posterior", "point"),
        default="posterior",
        help="posterior: replication r takes draw r of the scenario's posterior, if it names "
        "one; point: the values written in the scenario (default: %(default)s)",
    )


def _add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a file flowsim did not write, or a result of another scenario",
    )


def _add_hold_out(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument(
        "--hold-out", dest="hold_out", action="append", default=[], metavar="SELECTOR", help=text
    )


def _held_out(args: argparse.Namespace, observations) -> frozenset[str]:
    from flowsim.inference.holdout import held_out, split_selectors

    return held_out(observations, split_selectors(args.hold_out))


def cmd_run(args: argparse.Namespace) -> int:
    """``flowsim run``."""
    from flowsim.runner import run

    scenario = _load(args.scenario, args.overrides)
    observations = _observations(args, scenario) if args.observations else None
    out = Path(args.out) if args.out else Path("results") / scenario.name
    check_folder(
        out, force=args.force, scenarios=[scenario.name], inputs=_scenario_files(args.scenario)
    )
    args.writes_to = (out, _stamp(out))
    result = run(
        scenario,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        trace=args.trace,
        progress=not args.quiet,
        scheduler=args.scheduler,
        force=args.force,
        parameters=args.parameters,
    )
    result = _provenance(args, result)
    figures = {}
    if not args.no_plot:
        from flowsim.plotting import figure_bytes, run_figures

        fit = None
        if observations is not None:
            from flowsim.inference.fit import validate

            fit = validate(result, observations)
        figures = {
            f"{stem}.{fmt}": figure_bytes(fig, fmt)
            for stem, fig in run_figures(result, fit).items()
            for fmt in FORMATS
        }
    result.write(out, figures)
    _print_summary(result, out)
    return 0


def _provenance(args: argparse.Namespace, result, applied: bool = True):
    """The result with the command line, its overrides (if `applied`) and observations file."""
    import shlex

    return result.with_provenance(
        command=shlex.join(["flowsim", *args.argv]),
        overrides=tuple(args.overrides) if applied else (),
        observations=getattr(args, "observations_record", None),
    )


def _print_summary(result, out: Path) -> None:
    daily = result.daily
    totals = (
        daily[(daily["checkpoint"] == "all") & (daily["metric"] == "entries")]
        .groupby("country")["mean"]
        .sum()
        .sort_values(ascending=False)
    )
    meta = result.metadata
    print(
        f"{meta.scenario}: {meta.replications} replications, seed {meta.seed}, "
        f"{meta.wall_seconds:.1f} s, {meta.events_per_second:,.0f} events/s"
    )
    print("mean entries over the horizon:")
    for country, value in totals.items():
        print(f"  {country:<12} {value:>12,.0f}")
    print(f"results written to {out}")


def _scenario_files(path: str) -> list[Path]:
    """A scenario file and every file it extends: inputs no command may overwrite."""
    from flowsim.scenario.loader import load_raw

    return [Path(path), *(Path(f) for f, _ in load_raw(path).lines.values())]


def _is_schema(path: Path) -> bool:
    """True if `path` holds a JSON Schema that `flowsim schema` wrote."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("title") == "flowsim scenario"


def _stamp(path: Path) -> tuple[int, int] | None:
    """Identity of what is at `path` now (None: nothing), to tell later whether it was replaced."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def _interrupted(args: argparse.Namespace) -> str:
    """Say what an interrupted command leaves behind, in one line."""
    resume = "rerun the same command to resume"
    if args.command == "calibrate":
        return f"flowsim: interrupted; the evaluations so far are kept in {args.out}: {resume}"
    if args.command == "compare":
        return f"flowsim: interrupted; the finished scenarios are kept: {resume}"
    out, before = getattr(args, "writes_to", (None, None))
    if out is None:  # before the command knew its result folder: nothing was written yet
        out = getattr(args, "out", None)
        return f"flowsim: interrupted; nothing written to {out}" if out else "flowsim: interrupted"
    if _stamp(out) != before:  # the interruption came after the result was in place
        return f"flowsim: interrupted after writing {out}"
    return f"flowsim: interrupted; nothing written to {out}"


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"flowsim: warning: {line}", file=sys.stderr)


def _load(path: str, overrides: Sequence[str]):
    """Load a scenario and print its warnings."""
    from flowsim.checks import check_scenario

    scenario, warnings = check_scenario(path, overrides)
    _warn(warnings)
    return scenario


def _observations(args: argparse.Namespace, scenario):
    from flowsim.checks import observation_warnings
    from flowsim.inference.observations import file_record, load_observations

    observations = load_observations(args.observations, scenario)
    args.observations_record = file_record(args.observations)
    _warn(observation_warnings(observations, scenario, args.observations))
    return observations


def cmd_validate(args: argparse.Namespace) -> int:
    """``flowsim validate``: hold reported figures against a run."""
    from flowsim.inference.fit import (
        FIT_COLUMNS,
        breakdown_lines,
        fit_breakdown,
        summarize_fit,
        validate,
    )
    from flowsim.plotting import figure_bytes, fit_figure, run_figures
    from flowsim.runner import run

    scenario = _load(args.scenario, args.overrides)
    observations = _observations(args, scenario)
    held = _held_out(args, observations)
    out = Path(args.out) if args.out else Path("results") / f"{scenario.name}_validation"
    inputs = [*_scenario_files(args.scenario), Path(args.observations)]
    check_folder(out, force=args.force, scenarios=[scenario.name], inputs=inputs)
    args.writes_to = (out, _stamp(out))
    result = run(
        scenario,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
        scheduler=args.scheduler,
        force=args.force,
        parameters=args.parameters,
    )
    result = _provenance(args, result)
    table = validate(result, observations, args.reporting_error, held)
    breakdown = fit_breakdown(table)
    plots = {"fit": fit_figure(result, table), **run_figures(result, table)}
    result.write(
        out,
        figures={
            f"{stem}.{fmt}": figure_bytes(fig, fmt)
            for stem, fig in plots.items()
            for fmt in FORMATS
        },
        tables={
            "fit.csv": table[FIT_COLUMNS + [c for c in table.columns if c not in FIT_COLUMNS]],
            "fit_summary.csv": breakdown,
        },
    )
    for line in [*summarize_fit(table).lines(), *breakdown_lines(breakdown)]:
        print(line)
    print(f"results written to {out}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``flowsim calibrate``: tune the scenario's parameters to the observations."""
    from tqdm import tqdm

    from flowsim.atomic import atomic_write_bytes, atomic_write_text
    from flowsim.executors import default_workers, open_executor
    from flowsim.fitted_base import FITTED_HEADER
    from flowsim.inference.calibration import (
        POSTERIOR_DRAWS,
        POSTERIOR_FILES,
        calibrate,
        fitted_name,
        fitted_yaml,
        write_posterior,
    )
    from flowsim.inference.fit import (
        FIT_COLUMNS,
        breakdown_lines,
        fit_breakdown,
        summarize_fit,
        validate,
    )
    from flowsim.plotting import figure_bytes, fit_figure, posterior_figures
    from flowsim.runner import run
    from flowsim.scenario import load_scenario

    scenario = _load(args.scenario, args.overrides)
    observations = _observations(args, scenario)
    held = _held_out(args, observations)
    out = Path(args.out)
    fitted_path = Path(args.fitted) if args.fitted else out / "fitted.yaml"
    inputs = [*_scenario_files(args.scenario), Path(args.observations)]
    check_work_folder(out, force=args.force)
    written_here = ("evaluations.jsonl", "pilot.json", "parameters.csv", "fit.csv", "fit.png")
    for written in (*written_here, *POSTERIOR_FILES, "fit_summary.csv"):
        check_file(out / written, force=True, inputs=inputs)
    check_file(
        fitted_path, force=args.force, inputs=inputs, ours=starts_with(FITTED_HEADER.encode())
    )
    name = fitted_name(scenario.name)
    check_folder(out / "validation", force=args.force, scenarios=[name], inputs=inputs)
    workers = args.workers or default_workers()
    if args.method == "posterior" and args.validation_replications > POSTERIOR_DRAWS:
        raise RunError(
            f"at most {POSTERIOR_DRAWS} with the posterior method (one draw each)",
            field_path="--validation-replications",
        )
    params = [p.strip() for p in args.params.split(",")] if args.params else None
    total = args.budget  # a hard cap: the profiles' evaluations are part of it
    bars: list = []  # opened at the first evaluation, after the pilot run's own bar

    def evaluated() -> None:
        if not bars:
            desc = f"evaluations (at most {total})"
            bars.append(
                tqdm(total=total, desc=desc, unit="eval", file=sys.stderr, disable=args.quiet)
            )
        bars[0].update()

    # One pool (or Dask client) for the evaluations and the validation run after them.
    with open_executor(workers, args.scheduler) as executor:
        try:
            result = calibrate(
                args.scenario,
                [o for o in observations if o.id not in held],
                params=params,
                replications=args.replications or CALIBRATION_REPLICATIONS,
                seed=args.seed,
                workers=workers,
                budget=args.budget,
                out_dir=out,
                overrides=args.overrides,
                reporting_error=args.reporting_error,
                progress=None if args.quiet else evaluated,
                pilot_replications=args.pilot_replications,
                executor=executor,
                restart=args.force,
                force=args.force,
                method=args.method,
                time_budget=args.time_budget,
                reserve_rounds=-(-args.validation_replications // workers),
            )
        finally:
            for bar in bars:
                bar.close()
        if not result.converged:
            if result.posterior is not None:
                _warn([f"the posterior is doubtful: {result.stopped}"])
            else:
                _warn([f"not converged: {result.stopped}; the fit is the best point evaluated"])
        command = ["flowsim", *args.argv]
        if result.posterior is not None:
            figures = {
                stem: figure_bytes(fig)
                for stem, fig in posterior_figures(result.free, result.posterior).items()
            }
            write_posterior(out, result, figures)
        atomic_write_text(
            fitted_path,
            fitted_yaml(
                Path(args.scenario),
                fitted_path,
                result,
                command,
                name,
                scenario,
                sorted(held),
                out / "posterior.csv",
            ),
        )
        atomic_write_text(out / "parameters.csv", result.params.to_csv(index=False))
        fitted = load_scenario(fitted_path)
        check = run(
            fitted,
            replications=args.validation_replications,
            seed=args.seed,
            workers=workers,
            progress=not args.quiet,
            executor=executor,
            force=args.force,
        )
    check = _provenance(args, check, applied=False)  # it ran the fitted file as written
    table = validate(check, observations, args.reporting_error, held)
    breakdown = fit_breakdown(table)
    fit_plot = fit_figure(check, table)
    check.write(
        out / "validation",
        figures={"fit.png": figure_bytes(fit_plot), "fit.svg": figure_bytes(fit_plot, "svg")},
        tables={
            "fit.csv": table[FIT_COLUMNS + [c for c in table.columns if c not in FIT_COLUMNS]],
            "fit_summary.csv": breakdown,
        },
    )
    atomic_write_text(out / "fit.csv", table[[*FIT_COLUMNS, "held_out"]].to_csv(index=False))
    atomic_write_text(out / "fit_summary.csv", breakdown.to_csv(index=False))
    atomic_write_bytes(out / "fit.png", figure_bytes(fit_plot))
    shown = (
        ["name", "post_median", "post_ci_low", "post_ci_high", "ess", "moved_by_data"]
        if result.posterior is not None
        else ["name", "start", "fitted", "ci_low", "ci_high", "identified", "at_bound"]
    )
    print(result.params[shown].to_string(index=False))
    for line in [*summarize_fit(table).lines(), *breakdown_lines(breakdown)]:
        print(line)
    print(f"{result.evaluations} evaluations; fitted scenario written to {fitted_path}")
    return 0


def cmd_sbc(args: argparse.Namespace) -> int:
    """``flowsim sbc``: simulation-based calibration of the posterior method."""
    from flowsim.atomic import atomic_write_bytes, atomic_write_text
    from flowsim.executors import default_workers
    from flowsim.inference.sbc import SBC_FILES, read_box, simulation_based_calibration
    from flowsim.plotting import figure_bytes, sbc_figure

    scenario = _load(args.scenario, [])
    observations = _observations(args, scenario)
    out = Path(args.out)
    inputs = [*_scenario_files(args.scenario), Path(args.observations)]
    check_work_folder(out, force=args.force)
    for written in SBC_FILES:
        check_file(out / written, force=True, inputs=inputs)
    posterior = read_box(args.box) if args.box else None
    result = simulation_based_calibration(
        args.scenario,
        observations,
        datasets=args.datasets,
        design=args.design,
        replications=args.replications or CALIBRATION_REPLICATIONS,
        seed=args.seed,
        workers=args.workers or default_workers(),
        out_dir=out,
        posterior=posterior,
        reporting_error=args.reporting_error,
        pilot_replications=args.pilot_replications,
        chain_steps=args.chain_steps,
        restart=args.force,
    )
    summary = result.by_parameter()
    atomic_write_text(out / "sbc.csv", result.table.to_csv(index=False))
    atomic_write_text(out / "sbc_summary.csv", summary.to_csv(index=False))
    atomic_write_bytes(out / "sbc_ranks.png", figure_bytes(sbc_figure(result.table)))
    print(summary.to_string(index=False))
    verdict = "as it should" if 0.75 <= result.coverage <= 1.0 else "OUTSIDE 75-100%"
    print(
        f"{result.coverage:.0%} of the true values inside their 90% credible intervals "
        f"({len(result.table)} over {args.datasets} synthetic data sets): {verdict}"
    )
    print(f"results written to {out}")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """``flowsim sensitivity``: which input each counterfactual effect hangs on."""
    import shlex

    from tqdm import tqdm

    from flowsim.atomic import atomic_write_bytes, atomic_write_text
    from flowsim.compare import check_comparable
    from flowsim.executors import default_workers
    from flowsim.inference.sensitivity import SENSITIVITY_FILES, metadata, sensitivity
    from flowsim.plotting import figure_bytes, sensitivity_figure

    paths = [args.baseline, *args.others]
    scenarios = [_load(path, args.overrides) for path in paths]
    for path, other in zip(args.others, scenarios[1:], strict=True):
        check_comparable(scenarios[0], other, file=path)
    out = Path(args.out)
    inputs = [f for path in paths for f in _scenario_files(path)]
    check_work_folder(
        out, force=args.force, record="sensitivity.json", what="a sensitivity analysis"
    )
    for written in SENSITIVITY_FILES:
        check_file(out / written, force=True, inputs=inputs)
    bars: list = []  # opened at the first point done: an input error prints its one line alone

    def done() -> None:
        if not bars:
            total = args.points + args.noise_replications
            bars.append(tqdm(total=total, desc="design points", unit="point", file=sys.stderr,
                             disable=args.quiet))  # fmt: skip
        bars[0].update()

    try:
        result = sensitivity(
            scenarios,
            points=args.points,
            noise_replications=args.noise_replications,
            seed=args.seed,
            workers=args.workers or default_workers(),
            out_dir=out,
            ranges=dict(args.ranges),
            restart=args.force,
            progress=done,
        )
    finally:
        for bar in bars:
            bar.close()
    record = metadata(scenarios, result, shlex.join(["flowsim", *args.argv]), paths, args.seed)
    atomic_write_text(out / "design.csv", result.design.to_csv(index=False))
    atomic_write_text(out / "sensitivity.csv", result.indices.to_csv(index=False))
    atomic_write_text(out / "sensitivity_summary.csv", result.summary.to_csv(index=False))
    figure = sensitivity_figure(result.indices, result.summary)
    atomic_write_bytes(out / "sensitivity.png", figure_bytes(figure))
    atomic_write_text(out / "metadata.json", json.dumps(record, indent=1) + "\n")
    with pd_options():
        print(result.summary[["scenario", "country", "effect_mean", "noise_share", "drivers"]]
              .to_string(index=False))  # fmt: skip
    print(f"results written to {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``flowsim compare``: counterfactuals against a baseline, paired by replication."""
    from flowsim.atomic import atomic_dir
    from flowsim.compare import check_comparable, compare, headline
    from flowsim.plotting import (
        comparison_daily_figure,
        difference_figure,
        figure_bytes,
        queue_figure,
    )

    scenarios = [_load(path, args.overrides) for path in [args.baseline, *args.others]]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise RunError(
            f"scenario names must differ, got {', '.join(names)}", field_path="SCENARIOS"
        )
    for path, other in zip(args.others, scenarios[1:], strict=True):
        check_comparable(scenarios[0], other, file=path)
    fit = None
    if args.observations:
        from flowsim.inference.fit import validate

        observations = _observations(args, scenarios[0])
    out = Path(args.out)
    inputs = [f for path in [args.baseline, *args.others] for f in _scenario_files(path)]
    if args.observations:
        inputs.append(Path(args.observations))
    check_folder(out, force=args.force, scenarios=names, inputs=inputs)
    # Each finished scenario is kept here, so that rerunning the same command resumes.
    checkpoints = out.parent / f".{out.name}.partial"
    check_resume_folder(checkpoints)
    comparison = compare(
        scenarios,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
        scheduler=args.scheduler,
        checkpoints=checkpoints,
        force=args.force,
        parameters=args.parameters,
    )
    base = comparison.baseline
    if args.observations:
        fit = validate(base, observations)
    figures = {
        "daily_entries": comparison_daily_figure(comparison.results, fit),
        "differences": difference_figure(comparison.table, "entries"),
        "queues": queue_figure(comparison.results, busiest_checkpoints(base)),
    }
    table = headline(comparison.table)
    with atomic_dir(out) as tmp:
        comparison.table.to_csv(tmp / "comparison.csv", index=False)
        table.to_csv(tmp / "headline.csv", index=False)
        for name, fig in figures.items():
            for fmt in ("png", "svg"):
                (tmp / f"{name}.{fmt}").write_bytes(figure_bytes(fig, fmt))
        for result in comparison.results:
            _provenance(args, result).write_summary(tmp / "scenarios" / result.scenario.name)
        if fit is not None:
            fit.to_csv(tmp / "fit.csv", index=False)
    shutil.rmtree(checkpoints, ignore_errors=True)
    with pd_options():
        print(
            f"entries over the horizon, difference from {base.scenario.name}: the mean with "
            "its paired 95% CI, and the 90% interval of the effect over the replications"
        )
        for _, row in table.iterrows():
            print(
                f"  {row['scenario']:<24} {row['country']:<12} {row['diff_mean']:>+10,.0f}  "
                f"[{row['diff_ci_low']:>+10,.0f}, {row['diff_ci_high']:>+10,.0f}]  "
                f"[{row['post_ci_low']:>+10,.0f}, {row['post_ci_high']:>+10,.0f}]"
            )
    print(f"results written to {out}")
    return 0


def busiest_checkpoints(result) -> list[str]:
    """Upper Lars (if modelled) and the busiest road crossing of Finland and of Kazakhstan."""
    daily = result.daily
    entries = daily[(daily["metric"] == "entries") & (daily["checkpoint"] != "all")]
    totals = entries.groupby(["country", "checkpoint"])["mean"].sum()
    road = {
        cid
        for cid, cp in result.scenario.checkpoints.items()
        if any(m in cp.modes for m in ("car", "bus"))
    }
    picks = ["upper_lars"] if "upper_lars" in result.scenario.checkpoints else []
    for country in ("Finland", "Kazakhstan"):
        if country in totals.index.get_level_values(0):
            ranked = totals[country].sort_values(ascending=False)
            ranked = ranked[[c in road for c in ranked.index]]
            if len(ranked):
                picks.append(str(ranked.index[0]))
    return picks or [str(totals.sort_values().index[-1][1])]


def pd_options():
    """A context in which pandas prints wide tables."""
    import pandas as pd

    return pd.option_context("display.width", 160, "display.max_columns", 20)


def cmd_report(args: argparse.Namespace) -> int:
    """``flowsim report``: one self-contained HTML page from result folders."""
    import os

    from flowsim.atomic import atomic_write_text
    from flowsim.report import PAGE_START, SOURCES, build_report

    check_file(
        Path(args.out),
        force=args.force,
        inputs=[Path(f) for f in args.folders],
        ours=starts_with(PAGE_START.encode()),
    )
    # The sources list of the repository the command runs in, as a link from the page.
    sources = os.path.relpath(Path(SOURCES).resolve(), Path(args.out).resolve().parent)
    page = build_report([Path(f) for f in args.folders], args.title, sources)
    atomic_write_text(Path(args.out), page)
    print(f"report written to {args.out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``flowsim check``: validate scenario files without running them."""
    for path in args.scenarios:
        scenario = _load(path, args.overrides)
        print(
            f"{path}: ok ({scenario.name}: {len(scenario.checkpoints)} checkpoints, "
            f"{len(scenario.demand.origins)} origins, {len(scenario.policies)} policies)"
        )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """``flowsim schema``: print or write the JSON Schema of scenario files."""
    from flowsim.atomic import atomic_write_text
    from flowsim.scenario import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out:
        check_file(Path(args.out), force=args.force, ours=_is_schema)
        atomic_write_text(Path(args.out), text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    """``flowsim resolve``: print a scenario after extends, overrides and parameters."""
    from flowsim.scenario import dump_resolved, load_scenario

    sys.stdout.write(dump_resolved(load_scenario(args.scenario, args.overrides)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="flowsim", description="Simulate border-crossing queues and policy counterfactuals."
    )
    parser.add_argument("--version", action="version", version=f"flowsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a scenario and write its results")
    p.add_argument("scenario", help="scenario YAML file")
    _add_run_options(p)
    p.add_argument("--out", "-o", help="result folder (default: results/<scenario name>)")
    p.add_argument("--trace", action="store_true", help="also write one row per party outcome")
    p.add_argument("--observations", help="reported figures to draw on the figures")
    p.add_argument("--no-plot", action="store_true", help="skip the figures")
    _add_parameters(p)
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("validate", help="hold reported figures against a run of the scenario")
    p.add_argument("scenario")
    p.add_argument(
        "--observations", required=True, help="observations CSV (see docs/observations.md)"
    )
    _add_run_options(p)
    p.add_argument(
        "--out", "-o", help="result folder (default: results/<scenario name>_validation)"
    )
    p.add_argument(
        "--reporting-error",
        type=_positive_float,
        default=0.1,
        help="log-scale sd of reporting error",
    )
    _add_hold_out(p, "mark these figures as held out of the calibration (as calibrate --hold-out)")
    _add_parameters(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("calibrate", help="tune the scenario's parameters to reported figures")
    p.add_argument("scenario")
    p.add_argument("--observations", required=True)
    _add_run_options(p, f"replications per evaluation (default: {CALIBRATION_REPLICATIONS})")
    p.add_argument(
        "--out", "-o", required=True, help="folder for the evaluation log and the fitted scenario"
    )
    p.add_argument(
        "--params", help="comma-separated parameters to tune (default: those with calibrate: true)"
    )
    p.add_argument(
        "--method",
        choices=("posterior", "point"),
        default="posterior",
        help="posterior: a point fit, then waves of simulated posterior draws; point: the "
        "point fit and its loss profiles alone (default: %(default)s)",
    )
    p.add_argument(
        "--budget",
        type=_positive_int,
        default=80,
        help="most evaluations of -n replications each, profiles or waves included "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--time-budget",
        type=_duration,
        metavar="DURATION",
        help="most wall time, e.g. 2h30m: no evaluation starts that would not end in time, "
        "with time kept for the validation run",
    )
    p.add_argument(
        "--pilot-replications",
        type=_positive_int,
        default=8,
        help="replications of the pilot run that estimates the model's variance "
        "(1: none; default: %(default)s)",
    )
    p.add_argument(
        "--validation-replications",
        type=_positive_int,
        default=10,
        help="replications of the run that validates the fitted scenario (default: %(default)s)",
    )
    p.add_argument("--fitted", help="where to write the fitted scenario (default: OUT/fitted.yaml)")
    p.add_argument(
        "--reporting-error",
        type=_positive_float,
        default=0.1,
        help="log-scale sd of reporting error",
    )
    _add_hold_out(
        p,
        "do not tune on these figures; the validation reports the fit on them apart. An id "
        "pattern (R-*) or metric:, country:, checkpoint:, date:YYYY-MM-DD (repeatable)",
    )
    p.set_defaults(handler=cmd_calibrate)

    p = sub.add_parser(
        "sbc", help="check the posterior method on synthetic data from known parameters"
    )
    p.add_argument("scenario")
    p.add_argument("--observations", required=True, help="the figures to synthesise")
    p.add_argument("--out", "-o", required=True, help="folder for the design and the results")
    p.add_argument(
        "--datasets", type=_positive_int, default=20, help="synthetic data sets (default: 20)"
    )
    p.add_argument(
        "--design", type=_positive_int, default=64, help="design points simulated (default: 64)"
    )
    p.add_argument(
        "--replications",
        "-n",
        type=_positive_int,
        help="replications per design point (default: 2)",
    )
    p.add_argument("--seed", type=_seed, help="default: the scenario's")
    p.add_argument("--workers", "-j", type=_positive_int, help="processes (default: all cores)")
    p.add_argument(
        "--box",
        metavar="POSTERIOR_CSV",
        help="draw the truths from a box around this posterior (and take it as the prior) "
        "instead of the parameters' bounds",
    )
    p.add_argument("--reporting-error", type=_positive_float, default=0.1)
    p.add_argument("--pilot-replications", type=_positive_int, default=8)
    p.add_argument(
        "--chain-steps",
        type=_positive_int,
        default=8000,
        help="steps of each data set's chain, a quarter of them burn-in (default: %(default)s)",
    )
    _add_force(p)
    p.set_defaults(handler=cmd_sbc)

    p = sub.add_parser(
        "sensitivity", help="which parameter or assumption each counterfactual effect hangs on"
    )
    p.add_argument("baseline", help="the baseline scenario (its posterior, if any, is drawn from)")
    p.add_argument("others", nargs="+", metavar="OTHER", help="the counterfactual scenarios")
    p.add_argument("--out", "-o", required=True, help="folder for the design and the results")
    p.add_argument(
        "--points", type=_positive_int, default=64, help="design points (default: %(default)s)"
    )
    p.add_argument(
        "--noise-replications",
        type=_non_negative_int,
        default=6,
        help="runs of the scenarios as written, on streams of their own, that measure the "
        "replication noise (0: none; default: %(default)s)",
    )
    p.add_argument(
        "--range",
        dest="ranges",
        action="append",
        default=[],
        type=_range,
        metavar="NAME=LOW:HIGH",
        help="vary this parameter over LOW..HIGH instead of its bounds (repeatable)",
    )
    p.add_argument("--seed", type=_seed, help="default: the baseline's")
    p.add_argument("--workers", "-j", type=_positive_int, help="processes (default: all cores)")
    _add_set(p, "override a field of every scenario (repeatable)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_force(p)
    p.set_defaults(handler=cmd_sensitivity)

    p = sub.add_parser(
        "compare", help="run counterfactual scenarios against a baseline on the same seeds"
    )
    p.add_argument("baseline", help="the baseline scenario")
    p.add_argument("others", nargs="+", metavar="OTHER", help="scenarios to compare with it")
    _add_run_options(p)
    p.add_argument("--out", "-o", required=True, help="result folder")
    p.add_argument("--observations", help="reported figures to draw on the daily plot")
    _add_parameters(p)
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("report", help="one self-contained HTML page from result folders")
    p.add_argument("folders", nargs="+", metavar="RESULT_DIR")
    p.add_argument(
        "--out", "-o", default="report.html", help="the HTML file (default: report.html)"
    )
    p.add_argument("--title", default="flowsim report")
    _add_force(p)
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("check", help="validate scenario files without running them")
    p.add_argument("scenarios", nargs="+")
    _add_set(p)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("resolve", help="print a scenario after extends, overrides and parameters")
    p.add_argument("scenario")
    _add_set(p)
    p.set_defaults(handler=cmd_resolve)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.add_argument("--out", "-o", help="write to this file instead of stdout")
    _add_force(p)
    p.set_defaults(handler=cmd_schema)
    return parser


_FIGURES = (
    "flowsim.plotting",
    "matplotlib.backends.backend_agg",
    "matplotlib.backends.backend_svg",
)
#: The modules each command needs, imported up front by `_import_libraries`.
_LIBRARIES = {
    "run": ("flowsim.checks", "flowsim.runner", *_FIGURES),
    "validate": ("flowsim.checks", "flowsim.inference.fit", "flowsim.runner", *_FIGURES),
    "calibrate": (
        "flowsim.checks",
        "flowsim.inference.calibration",
        "flowsim.inference.fit",
        "tqdm",
        *_FIGURES,
    ),
    "compare": ("flowsim.checks", "flowsim.compare", "flowsim.inference.fit", *_FIGURES),
    "sbc": ("flowsim.checks", "flowsim.inference.sbc", *_FIGURES),
    "sensitivity": ("flowsim.checks", "flowsim.inference.sensitivity", "tqdm", *_FIGURES),
    "report": ("flowsim.report",),
    "check": ("flowsim.checks",),
    "resolve": ("flowsim.scenario",),
    "schema": ("flowsim.scenario",),
}


def _import_libraries(args: argparse.Namespace) -> None:
    """Import what the command needs with Ctrl-C held back until the imports are done.

    An interrupt inside a compiled module's initialisation can surface as ``ImportError``
    or be swallowed by a library's fallback; held back, it is a plain KeyboardInterrupt.
    A run with ``--no-plot`` draws no figure, so it never imports matplotlib. Imports
    make objects that live as long as the process: the cyclic collector, which would
    scan them again and again, waits until they are done.
    """
    import importlib
    import signal

    pressed: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: pressed.append(signum))
    except ValueError:  # not the main thread, which alone receives signals
        previous = None
    collecting = gc.isenabled()
    gc.disable()
    try:
        for name in _LIBRARIES.get(args.command, ()):
            if not (getattr(args, "no_plot", False) and name in _FIGURES):
                importlib.import_module(name)
    finally:
        if collecting:
            gc.enable()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def _one_blas_thread() -> None:
    """BLAS on one thread, unless the user set its threads, before numpy is first imported.

    A replication is single-threaded and replications run in parallel as processes, so a
    BLAS thread pool would only spin (about 0.2 s of CPU a command).
    """
    if "numpy" not in sys.modules and not any(name in os.environ for name in BLAS_THREADS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowsim`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _one_blas_thread()
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in files a command writes, e.g. fitted.yaml
    try:
        _import_libraries(args)
        return args.handler(args)
    except FlowsimError as err:
        print(f"flowsim: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a disk filling up outside an atomic write (which says so itself)
        where = f"{err.filename}: " if err.filename else ""
        print(f"flowsim: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except MemoryError:  # beyond the estimate that `--force` overrode
        print("flowsim: error: out of memory; run fewer replications", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_interrupted(args), file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

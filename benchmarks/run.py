"""flowsim speed and memory benchmarks: one entry point, one Markdown table.

Usage::

    python benchmarks/run.py [--quick] [--rounds N] [--out FILE.md]
    python benchmarks/run.py --instructions [--out FILE.md]

Every measured case runs in a fresh Python subprocess (this script re-invoked with
``--child``), so imports, caches and heap growth of one case cannot leak into the
next; the child reports wall seconds (``time.perf_counter`` around the work only)
and its peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``, KiB on Linux).
The M/M/c cases run ``--rounds`` times, interleaved (the engine, then each reference,
then again), and report medians: a ratio is the median of the ratios within
a round, so a machine whose speed drifts during the run still compares like with like.
With ``--instructions`` the M/M/c cases instead run under valgrind's callgrind, at
10^4 and 10^5 travellers, and the report gives instructions per traveller (the
difference between the two sizes, so imports and set-up cancel out; one uncounted run
first fills numba's cache for valgrind's CPU, which is not the machine's): a count that,
unlike seconds, does not move with the load of a shared machine.
See benchmarks/README.md for what each row measures and how to read the ratios.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HISTORICAL = ROOT / "scenarios" / "historical_2022_calibrated.yaml"

# The M/M/c workload: c = 2 lanes, exponential service of mean 1 minute (mu = 1/min),
# Poisson arrivals at lam = 1.8/min = 108/hour, so utilisation lam / (c mu) = 0.9.
MMC_LANES = 2
MMC_MU = 1.0  # per minute
MMC_LAM = 1.8  # per minute
MMC_SEED = 20220921
#: Exact mean wait in queue of M/M/2 at lam = 1.8, mu = 1: C(2, 1.8) / (2 - 1.8) = 81/19.
MMC_WQ = 81 / 19

_CHILD_RESULT = "BENCH-RESULT "
#: The M/M/c references (case, label), in the order they run and print.
REFERENCES = (
    ("plain", "plain SimPy"),
    ("heapq", "heapq"),
    ("records", "heapq + party records"),
    ("lanes", "lane recursion + party records"),
)
#: The engine with no event per traveller (benchmarks/what_if.py): a floor, not a reference.
WHAT_IF = ("event_free", "flowsim without events (what-if)")
#: The two sizes whose difference gives instructions per traveller.
INSTRUCTION_SIZES = (10_000, 100_000)


# --- the cases (run inside the child) ------------------------------------------------


def _import_paths() -> None:
    for p in (str(ROOT), str(ROOT / "tests")):
        if p not in sys.path:
            sys.path.insert(0, p)


def _simulate_recording(scenario, seed: int, replication: int, model_class=None):
    """`flowsim.runner.simulate` with `model_class` (default: the default engine's), timed.

    The compiled engine first runs one replication of the small test scenario, which loads
    its kernels from numba's cache: that fixed cost is timed apart (`warm_seconds`).
    """
    import flowsim
    from flowsim.engine.select import model_class as default_class
    from flowsim.policies import install_all

    model_class = model_class or default_class()
    warm = 0.0
    if model_class.__module__.startswith("flowsim.engine.compiled"):
        t0 = time.perf_counter()
        small = flowsim.load_scenario(ROOT / "tests" / "scenarios" / "small.yaml")
        warm_up = model_class(small, 1, 0)
        install_all(small, warm_up)
        warm_up.run()
        warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = model_class(scenario, seed, replication)
    install_all(scenario, model)
    agg = model.run()
    seconds = time.perf_counter() - t0
    return agg, model, seconds, warm


def _engine_result(agg, model, seconds: float, warm: float) -> dict[str, Any]:
    travellers = int(agg.origin_flows[0].sum())
    parties = getattr(model, "_parties", None)
    return {
        "travellers": travellers,
        "parties": int(parties) if isinstance(parties, int) else None,
        "seconds": seconds,
        "warm_seconds": warm,
        "events": int(agg.events),
    }


def scale_overrides(path: Path, factor: float) -> dict[str, Any]:
    """Nested overrides multiplying all baseline and surge demand of a scenario by `factor`.

    Scales every ``demand.origins.<id>.baseline_per_day`` and every surge parameter
    (``parameters.surge_day*`` and any ``$parameter`` a surge knot refers to), raising
    an ``upper`` bound where the scaled value would exceed it. A baseline or knot that
    is itself a ``$parameter`` reference scales that parameter; literal non-zero surge
    knots are replaced by scaled copies (lists are replaced whole by an override).
    """
    from flowsim.scenario.loader import load_raw

    data = load_raw(path).data
    params: dict[str, Any] = data.get("parameters") or {}
    demand: dict[str, Any] = data.get("demand") or {}
    to_scale: set[str] = {name for name in params if name.startswith("surge_day")}
    origins: dict[str, Any] = {}
    for oid, origin in (demand.get("origins") or {}).items():
        base = origin.get("baseline_per_day", 0)
        if isinstance(base, str) and base.startswith("$"):
            to_scale.add(base[1:])
        else:
            origins[oid] = {"baseline_per_day": float(base) * factor}
    knots = demand.get("surge") or []
    literal = False
    new_knots = []
    for knot in knots:
        value = knot.get("per_day", 0)
        if isinstance(value, str) and value.startswith("$"):
            to_scale.add(value[1:])
            new_knots.append(knot)
        else:
            literal = literal or float(value) != 0.0
            new_knots.append({**knot, "per_day": float(value) * factor})
    new_params: dict[str, Any] = {}
    for name in sorted(to_scale):
        spec = params[name]
        if not isinstance(spec, dict):  # a bare number
            new_params[name] = float(spec) * factor
            continue
        value = float(spec["value"]) * factor
        entry: dict[str, Any] = {"value": value}
        if spec.get("upper") is not None and float(spec["upper"]) < value:
            entry["upper"] = value
        new_params[name] = entry
    out: dict[str, Any] = {}
    if new_params:
        out["parameters"] = new_params
    demand_out: dict[str, Any] = {}
    if origins:
        demand_out["origins"] = origins
    if literal:
        demand_out["surge"] = copy.deepcopy(new_knots)
    if demand_out:
        out["demand"] = demand_out
    return out


def case_historical(factor: float, engine: str = "compiled") -> dict[str, Any]:
    import flowsim
    from flowsim.engine.select import model_class

    overrides = scale_overrides(HISTORICAL, factor) if factor != 1 else {}
    scenario = flowsim.load_scenario(HISTORICAL, overrides)
    return _engine_result(*_simulate_recording(scenario, scenario.seed, 0, model_class(engine)))


def mmc_hours(n: int) -> int:
    """Whole hours of horizon in which n arrivals are expected at lam = 108/hour."""
    return max(1, round(n / (MMC_LAM * 60.0)))


def mmc_scenario_mapping(n: int) -> dict[str, Any]:
    """The engine's M/M/2 scenario with about `n` expected arrivals."""
    _import_paths()
    from builders import START, single_checkpoint

    data = single_checkpoint(
        arrivals_per_hour=MMC_LAM * 60.0,
        service_minutes={"dist": "exponential", "mean": 1.0 / MMC_MU},
        lanes=MMC_LANES,
    )
    start = dt.datetime.fromisoformat(START)
    data["horizon"]["end"] = (start + dt.timedelta(hours=mmc_hours(n))).isoformat()
    data["seed"] = MMC_SEED
    return data


def case_mmc_engine(n: int, event_free: bool = False) -> dict[str, Any]:
    _import_paths()
    from builders import build

    scenario = build(mmc_scenario_mapping(n))
    model_class = None
    if event_free:
        from benchmarks.what_if import EventFreeModel as model_class
    agg, model, seconds, warm = _simulate_recording(scenario, scenario.seed, 0, model_class)
    out = _engine_result(agg, model, seconds, warm)
    exit_stats = [s for s in agg.stage_stats if s.stage == "exit"]
    served = sum(s.served for s in exit_stats)
    if served:
        out["mean_wait"] = sum(s.wait_minutes_served for s in exit_stats) / served
    return out


def case_mmc_reference(kind: str, n: int) -> dict[str, Any]:
    _import_paths()
    from benchmarks.references import (
        heapq_mmc,
        heapq_records_mmc,
        lane_recursion_records_mmc,
        plain_simpy_mmc,
    )

    fn = {
        "plain": plain_simpy_mmc,
        "heapq": heapq_mmc,
        "records": heapq_records_mmc,
        "lanes": lane_recursion_records_mmc,
    }[kind]
    t0 = time.perf_counter()
    res = fn(n, MMC_LAM, MMC_MU, MMC_LANES, MMC_SEED)
    seconds = time.perf_counter() - t0
    return {
        "travellers": n,
        "parties": None,
        "seconds": seconds,
        "events": res.get("events"),
        "mean_wait": res.get("mean_wait"),
    }


def case_baseline(what: str) -> dict[str, Any]:
    """Imports only: the RSS floor of the engine (``engine``) or reference (``ref``) rows."""
    _import_paths()
    if what == "engine":
        import builders  # noqa: F401

        import flowsim.runner
        import flowsim.scenario  # noqa: F401
    else:
        import benchmarks.references  # noqa: F401
    return {"travellers": 0, "parties": None, "seconds": 0.0, "events": None}


def run_child(spec: dict[str, Any]) -> None:
    kind = spec["case"]
    if kind == "historical":
        out = case_historical(spec["factor"], spec.get("engine", "compiled"))
    elif kind in ("mmc_engine", WHAT_IF[0]):
        out = case_mmc_engine(spec["n"], event_free=kind == WHAT_IF[0])
    elif kind in dict(REFERENCES):
        out = case_mmc_reference(kind, spec["n"])
    elif kind == "baseline":
        out = case_baseline(spec["what"])
    else:
        raise SystemExit(f"unknown case {kind!r}")
    out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(_CHILD_RESULT + json.dumps(out), flush=True)


# --- the parent: one subprocess per case, then the table -----------------------------


def run_case(spec: dict[str, Any], label: str, prefix: tuple[str, ...] = ()) -> tuple[dict, str]:
    """Run one case in a fresh interpreter (behind `prefix`, e.g. valgrind): its result, stderr."""
    proc = subprocess.run(
        [*prefix, sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_CHILD_RESULT)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"benchmark case {label!r} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len(_CHILD_RESULT) :]), proc.stderr


def measure(spec: dict[str, Any], label: str) -> dict[str, Any]:
    """Run one case in a fresh interpreter and return its measurements."""
    print(f"[bench] {label} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    out, _ = run_case(spec, label)
    out["label"] = label
    out["peak_mib"] = out["maxrss_kib"] / 1024.0
    print(
        f"[bench] {label}: {out['seconds']:.2f} s, {out['peak_mib']:.0f} MiB "
        f"(child wall {time.perf_counter() - t0:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    return out


def header() -> list[str]:
    import numpy
    import simpy

    from flowsim.runner import git_commit

    proc = platform.processor() or _cpu_model() or "?"
    return [
        "# flowsim benchmarks",
        "",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- git commit: {git_commit()}",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), "
        f"simpy {simpy.__version__}, numpy {numpy.__version__}",
        f"- machine: {platform.machine()}, processor: {proc}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
    ]


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return m.group(1).strip() if m else ""


def _fmt_int(x: Any) -> str:
    return "" if x is None else f"{int(x):,}"


def count_instructions(spec: dict[str, Any], label: str) -> dict[str, Any]:
    """Run one case under callgrind; its measurements plus ``instructions`` (whole process)."""
    print(f"[bench] {label} (callgrind) ...", file=sys.stderr, flush=True)
    callgrind = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")
    out, stderr = run_case(spec, label, callgrind)
    collected = re.search(r"Collected : (\d+)", stderr)
    if not collected:
        raise SystemExit(f"benchmark case {label!r}: no instruction count from callgrind")
    return {**out, "instructions": int(collected[1])}


def instructions_report() -> list[str]:
    """Instructions per traveller of the M/M/c cases, from runs at two sizes."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind on PATH (e.g. apt-get install valgrind)")
    small, large = INSTRUCTION_SIZES
    cases = [("mmc_engine", "flowsim"), WHAT_IF, *REFERENCES]
    per_traveller: dict[str, float] = {}
    engine_travellers: dict[int, int] = {}
    # valgrind's CPU is not the machine's, so numba's cache has no kernels for it until a
    # run under valgrind has compiled them; that run is not counted
    count_instructions({"case": "mmc_engine", "n": small}, "warm-up for valgrind's CPU")
    for case, label in cases:
        runs = []
        for n in (small, large):
            # The references simulate exactly as many travellers as the engine set out.
            size = engine_travellers.get(n, n)
            runs.append(count_instructions({"case": case, "n": size}, f"mmc {n:,} · {label}"))
            if case == "mmc_engine":
                engine_travellers[n] = runs[-1]["travellers"]
        extra = runs[1]["instructions"] - runs[0]["instructions"]
        per_traveller[case] = extra / (runs[1]["travellers"] - runs[0]["travellers"])
    plain, heap = per_traveller["plain"], per_traveller["heapq"]
    rows = [
        f"| {label} | {per_traveller[case]:,.0f} | {plain / per_traveller[case]:.2f}x | "
        f"{per_traveller[case] / heap:.2f}x |"
        for case, label in cases
    ]
    return [
        f"- mode: instructions (valgrind callgrind), M/M/2 at {small:,} and {large:,} "
        "travellers; per traveller = difference of the whole-process counts / difference "
        "of travellers",
        "",
        "| case | instructions per traveller | faster than plain SimPy | / heapq |",
        "|---|--:|--:|--:|",
        *rows,
        "",
    ]


def run_command(argv: list[str]) -> float:
    """CPU seconds (user + system) of a whole process, interpreter start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def command_note(travellers: int, rounds: int) -> str:
    """`flowsim run` of one historical replication against a bare heapq loop, whole processes.

    The loop (`references.heapq_mmc`) simulates as many travellers as the replication set
    out, in a process of its own (this script's child: Python, the loop, nothing else).
    """
    print("[bench] flowsim run vs the heapq loop, whole processes ...", file=sys.stderr)
    run = [sys.executable, "-m", "flowsim.cli", "run", str(HISTORICAL), "-n", "1", "-j", "1"]
    loop = [sys.executable, str(Path(__file__).resolve()), "--child"]
    flowsim_cpu, loop_cpu = [], []
    for _ in range(rounds):
        folder = Path(tempfile.mkdtemp(prefix="flowsim-bench-"))
        flowsim_cpu.append(run_command([*run, "--no-plot", "-q", "--out", str(folder / "run")]))
        shutil.rmtree(folder)
        loop_cpu.append(run_command([*loop, json.dumps({"case": "heapq", "n": travellers})]))
    cpu = [{"seconds": c} for c in flowsim_cpu], [{"seconds": c} for c in loop_cpu]
    return (
        f"whole processes, CPU seconds ({rounds} interleaved rounds): `flowsim run "
        f"{HISTORICAL.relative_to(ROOT)} -n 1 --no-plot` {median_run(cpu[0])['seconds']:.2f} s, "
        f"a bare heapq loop for the same {travellers:,} travellers "
        f"{median_run(cpu[1])['seconds']:.2f} s: {spread(ratio(*cpu))} the loop."
    )


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median seconds."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def ratio(num: list[dict[str, Any]], den: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Median, min and max over rounds of seconds(num) / seconds(den), round by round."""
    values = sorted(a["seconds"] / b["seconds"] for a, b in zip(num, den, strict=True))
    return values[(len(values) - 1) // 2], values[0], values[-1]


def spread(r: tuple[float, float, float]) -> str:
    """A ratio as ``median (min–max)``."""
    return f"{r[0]:.2f}x ({r[1]:.2f}–{r[2]:.2f})" if r[1] != r[2] else f"{r[0]:.2f}x"


def row(r: dict[str, Any], floor: float, speedup: str = "", vs_heap: str = "") -> str:
    n = r["travellers"]
    secs = r["seconds"]
    events = r.get("events")
    ept = f"{events / n:.2f}" if events is not None and n else ""
    wait = f"{r['mean_wait']:.3f}" if r.get("mean_wait") is not None else ""
    return (
        f"| {r['label']} | {_fmt_int(n)} | {_fmt_int(r.get('parties'))} | {secs:.2f} | "
        f"{n / secs:,.0f} | {r['peak_mib']:.0f} | {r['peak_mib'] - floor:.0f} | {ept} | {wait} | "
        f"{speedup} | {vs_heap} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1e6 and x10 rows (CI smoke)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of the M/M/c cases (median)"
    )
    parser.add_argument(
        "--history-rounds",
        type=int,
        default=3,
        help="interleaved rounds of the historical engine and command cases (median)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions of the M/M/c cases under callgrind instead of timing",
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.history_rounds < 1:
        parser.error("--rounds and --history-rounds must be at least 1")
    if args.child:
        run_child(json.loads(args.child))
        return 0

    if args.instructions:
        return write_report([*header(), *instructions_report()], args.out)

    started = time.perf_counter()
    baseline = measure({"case": "baseline", "what": "engine"}, "imports only (engine)")
    ref_floor = measure({"case": "baseline", "what": "ref"}, "imports only (references)")
    floor, rfloor = baseline["peak_mib"], ref_floor["peak_mib"]
    rows: list[str] = []
    notes: list[str] = []

    compiled_runs, reference_runs = [], []
    for _ in range(args.history_rounds):
        compiled_runs.append(measure({"case": "historical", "factor": 1}, "historical"))
        reference_runs.append(
            measure(
                {"case": "historical", "factor": 1, "engine": "reference"},
                "historical · reference engine",
            )
        )
    hist, hist_ref = median_run(compiled_runs), median_run(reference_runs)
    rows.append(row(hist, floor))
    rows.append(row(hist_ref, floor))
    notes.append(
        f"historical: the compiled engine is {spread(ratio(reference_runs, compiled_runs))} "
        f"faster than the reference engine ({args.history_rounds} interleaved rounds), same "
        f"outputs bit for bit; loading its kernels from numba's cache (a warm-up replication "
        f"of the small test scenario, not in its seconds) took {hist['warm_seconds']:.1f} s "
        f"(a fresh cache's compilation is not included: see benchmarks/README.md)."
    )
    notes.append(command_note(hist["travellers"], args.history_rounds))
    if not args.quick:
        hist10 = measure({"case": "historical", "factor": 10}, "historical x10")
        rows.append(row(hist10, floor))
        if hist["seconds"] > 0:
            per1 = hist["seconds"] / hist["travellers"] * 1e6
            per10 = hist10["seconds"] / hist10["travellers"] * 1e6
            notes.append(
                f"historical x10: {hist10['travellers'] / hist['travellers']:.2f}x the "
                f"travellers in "
                f"{hist10['seconds'] / hist['seconds']:.2f}x the time "
                f"({per1:.1f} vs {per10:.1f} us per traveller); peak RSS "
                f"{hist['peak_mib']:.0f} -> {hist10['peak_mib']:.0f} MiB."
            )

    engines: dict[int, dict[str, Any]] = {}
    for n, name in [(100_000, "1e5"), (1_000_000, "1e6")]:
        if args.quick and n > 100_000:
            continue
        what_if, what_if_label = WHAT_IF
        runs: dict[str, list[dict[str, Any]]] = {
            "engine": [],
            what_if: [],
            **{k: [] for k, _ in REFERENCES},
        }
        for _ in range(args.rounds):
            runs["engine"].append(measure({"case": "mmc_engine", "n": n}, f"mmc {name}"))
            runs[what_if].append(
                measure({"case": what_if, "n": n}, f"mmc {name} · {what_if_label}")
            )
            # The references simulate exactly as many travellers as the engine set out.
            size = runs["engine"][0]["travellers"] or n
            for case, label in REFERENCES:
                runs[case].append(measure({"case": case, "n": size}, f"mmc {name} · {label}"))
        median = {case: median_run(r) for case, r in runs.items()}
        engines[n] = median["engine"]
        speedup = ratio(runs["plain"], runs["engine"])
        rows.append(
            row(
                median["engine"],
                floor,
                spread(speedup),
                spread(ratio(runs["engine"], runs["heapq"])),
            )
        )
        rows.append(
            row(
                median[what_if],
                floor,
                spread(ratio(runs["plain"], runs[what_if])),
                spread(ratio(runs[what_if], runs["heapq"])),
            )
        )
        rows += [row(median[case], rfloor) for case, _ in REFERENCES]
        if speedup[0] <= 1.0:
            notes.append(f"ANOMALY mmc {name}: the engine is not faster than plain SimPy.")
        for case, label, what in (
            ("records", "heapq + party records", "a record and two events per traveller"),
            ("lanes", "lane recursion + party records", "a record and no event per traveller"),
        ):
            notes.append(
                f"mmc {name}: {label} is {spread(ratio(runs[case], runs['heapq']))} heapq and "
                f"{spread(ratio(runs['plain'], runs[case]))} faster than plain SimPy (the most an "
                f"engine with {what} can be); the engine is "
                f"{spread(ratio(runs['engine'], runs[case]))} {label}."
            )
        notes.append(
            f"mmc {name}: {what_if_label} (the engine's own per-party work with no event per "
            f"traveller, same waits) is {spread(ratio(runs['engine'], runs[what_if]))} faster "
            f"than the engine: the most a redesign without events could gain."
        )
        waits = ", ".join(
            f"{label} {median[case]['mean_wait']:.3f}"
            for case, label in [("engine", "engine"), WHAT_IF, *REFERENCES]
            if median[case].get("mean_wait") is not None
        )
        notes.append(f"mmc {name} mean wait in queue (min): {waits}; M/M/2 theory {MMC_WQ:.3f}.")

    if 100_000 in engines and 1_000_000 in engines:
        a, b = engines[100_000], engines[1_000_000]
        growth = b["peak_mib"] - a["peak_mib"]
        above = (a["peak_mib"] - floor, b["peak_mib"] - floor)
        verdict = "flat" if growth < 0.25 * max(a["peak_mib"], 1.0) else "ANOMALY: grows"
        notes.append(
            f"engine memory, 1e5 -> 1e6 travellers: peak RSS {a['peak_mib']:.0f} -> "
            f"{b['peak_mib']:.0f} MiB ({growth:+.0f} MiB; {above[0]:.0f} -> {above[1]:.0f} MiB "
            f"above the {floor:.0f} MiB import floor) - {verdict}."
        )

    lines = [
        *header(),
        f"- mode: {'quick' if args.quick else 'full'}, M/M/c cases: median of {args.rounds} "
        f"interleaved round(s), ratios as median (min–max) of the rounds' ratios; "
        f"import-only peak RSS: engine rows "
        f"{floor:.0f} MiB, reference rows {rfloor:.0f} MiB; total benchmark time "
        f"{time.perf_counter() - started:.0f} s",
        "",
        "| case | travellers | parties | seconds | travellers/s | peak MiB | above imports MiB "
        "| events/traveller | mean wait (min) | speed-up vs plain SimPy | engine / heapq |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        *rows,
        "",
        *(f"- {n}" for n in notes),
        "",
    ]
    return write_report(lines, args.out)


def write_report(lines: list[str], out: Path | None) -> int:
    """Print the report and, with ``--out``, write it to that file."""
    text = "\n".join(lines)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One self-contained HTML page from result folders: what was run, the fit, the counterfactuals.

Figures are embedded as base64 PNG, styles are inline: the page opens with no network.
It reads only what the commands wrote (never re-runs a simulation).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path

import pandas as pd

from flowsim import __version__
from flowsim.errors import RunError
from flowsim.fit import FIT_COLUMNS

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;\
margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;\
margin-top:2em}
h3{font-size:1.05em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
.note{color:#555;font-size:.9em}.bad{color:#a00}.good{color:#070}
"""

#: How every page begins: what tells a page flowsim wrote from a user's file.
PAGE_START = "<!DOCTYPE html><html lang='en'><head><meta name='generator' content='flowsim'>"
KNOWN_FILES = ("metadata.json", "comparison.csv", "fit.csv", "parameters.csv")
#: Fields of metadata.json the page shows.
METADATA_KEYS = (
    "scenario",
    "seed",
    "replications",
    "version",
    "git_commit",
    "wall_seconds",
    "created_utc",
)
#: Columns the page reads from each table, and which of them must be numbers.
TABLE_COLUMNS = {
    "fit.csv": (
        ("id", "metric", "status", "covered"),
        ("value", "low", "high", "sim_p05", "sim_p50", "sim_p95", "log_error"),
    ),
    "parameters.csv": (
        ("name", "identified"),
        ("start", "fitted", "lower", "upper", "ci_low", "ci_high"),
    ),
    "comparison.csv": (
        ("scenario", "country", "checkpoint", "period", "metric"),
        ("baseline_mean", "mean", "diff_mean", "diff_ci_low", "diff_ci_high"),
    ),
}


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _table(frame: pd.DataFrame, floatfmt: str = "{:,.4g}") -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else floatfmt.format(value)
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _metadata_section(folder: Path) -> str:
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    resolved = folder / "scenario.resolved.yaml"
    description = ""
    if resolved.exists():
        import yaml

        scenario = yaml.safe_load(resolved.read_text(encoding="utf-8"))
        description = html.escape(" ".join(str(scenario.get("description", "")).split()))
    return (
        f"<h3>{html.escape(meta['scenario'])}</h3><p>{description}</p>"
        f"<p class='note'>seed {meta['seed']}, {meta['replications']} replications, "
        f"flowsim {html.escape(meta['version'])}, commit {html.escape(meta['git_commit'])}, "
        f"{meta['wall_seconds']} s, created {html.escape(meta['created_utc'])}</p>"
    )


def _fit_section(folder: Path) -> str:
    fit = pd.read_csv(folder / "fit.csv")
    ok = fit[fit["status"] == "ok"]
    summary = (
        f"<p>{len(fit)} reported figures, {len(ok)} modelled; median |log error| "
        f"{ok['log_error'].abs().median():.3f}; "
        f"{ok['covered'].astype(float).mean():.0%} inside the simulated 90% band.</p>"
    )
    out = ["<h2>Fit to reported figures</h2>", summary, _table(fit[FIT_COLUMNS])]
    for name in ("fit.png", "validation/fit.png"):
        if (folder / name).exists():
            out.append(_image(folder / name, "simulated against reported"))
            break
    if (folder / "parameters.csv").exists():
        params = pd.read_csv(folder / "parameters.csv")
        out += [
            "<h3>Calibrated parameters</h3>",
            "<p class='note'>95% intervals from the curvature of each parameter's "
            "likelihood profile; 'not identified' means the reported figures "
            "do not pin the parameter down.</p>",
            _table(
                params[
                    ["name", "start", "fitted", "lower", "upper", "ci_low", "ci_high", "identified"]
                ]
            ),
        ]
    return "\n".join(out)


def _comparison_section(folder: Path) -> str:
    table = pd.read_csv(folder / "comparison.csv")
    baseline = table["scenario"].iloc[0]
    rows = table[
        (table["checkpoint"] == "all")
        & (table["period"] == "horizon")
        & (table["metric"] == "entries")
        & (table["scenario"] != baseline)
    ]
    show = rows[
        ["scenario", "country", "baseline_mean", "mean", "diff_mean", "diff_ci_low", "diff_ci_high"]
    ].rename(
        columns={
            "baseline_mean": f"{baseline}",
            "mean": "scenario mean",
            "diff_mean": "difference",
            "diff_ci_low": "95% CI low",
            "diff_ci_high": "95% CI high",
        }
    )
    out = [
        "<h2>Counterfactuals</h2>",
        "<p>Entries over the whole horizon, per country, against "
        f"<b>{html.escape(baseline)}</b>. Every scenario ran on the same random numbers; "
        "differences are paired by replication, with Student-t 95% intervals.</p>",
        _table(show, "{:,.0f}"),
    ]
    for name, alt in (
        ("daily_entries.png", "daily entries by scenario"),
        ("differences.png", "paired differences"),
        ("queues.png", "queues and waits"),
    ):
        if (folder / name).exists():
            out.append(_image(folder / name, alt))
    scenarios = folder / "scenarios"
    if scenarios.is_dir():
        out.append("<h3>Scenarios</h3>")
        out += [
            _metadata_section(d)
            for d in sorted(scenarios.iterdir())
            if (d / "metadata.json").exists()
        ]
    return "\n".join(out)


def build_report(folders: list[Path], title: str = "flowsim report") -> str:
    """The HTML page for result folders written by run, validate, calibrate or compare."""
    for folder in folders:
        check_result_folder(folder)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        f"by flowsim {__version__} from: "
        + ", ".join(html.escape(str(f)) for f in folders)
        + "</p>",
    ]
    for folder in folders:
        parts.append(f"<h2>{html.escape(folder.name)}</h2>")
        for meta_dir in (folder, folder / "validation"):
            if (meta_dir / "metadata.json").exists():
                parts.append(_metadata_section(meta_dir))
                break
        if (folder / "daily_entries.png").exists() and not (folder / "comparison.csv").exists():
            parts.append(_image(folder / "daily_entries.png", "simulated daily entries"))
        if (folder / "fit.csv").exists():
            parts.append(_fit_section(folder))
        if (folder / "comparison.csv").exists():
            parts.append(_comparison_section(folder))
    body = "\n".join(parts)
    return (
        f"{PAGE_START}<meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def check_result_folder(folder: Path) -> None:
    """Raise `RunError`, naming the file and what is wrong, if no page can be made from `folder`."""
    if folder.exists() and not folder.is_dir():
        raise RunError(
            "is a file, not a result folder (give the folder a command wrote)", file=str(folder)
        )
    if not folder.is_dir():
        raise RunError("not a result folder (does not exist)", file=str(folder))
    if not any((folder / f).exists() for f in KNOWN_FILES) and not (folder / "validation").is_dir():
        raise RunError(
            f"not a flowsim result folder (none of {', '.join(KNOWN_FILES)})", file=str(folder)
        )
    scenarios = sorted((folder / "scenarios").glob("*/")) if (folder / "scenarios").is_dir() else []
    for sub in (folder, folder / "validation", *scenarios):
        if (sub / "metadata.json").exists():
            _check_metadata(sub / "metadata.json")
        if (sub / "scenario.resolved.yaml").exists():
            _check_resolved(sub / "scenario.resolved.yaml")
    for name, (text_columns, number_columns) in TABLE_COLUMNS.items():
        if (folder / name).exists():
            _check_table(folder / name, text_columns, number_columns)


def _check_metadata(path: Path) -> None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"not readable JSON ({str(err).splitlines()[0]})", file=str(path)) from None
    if not isinstance(meta, dict):
        raise RunError("expected a JSON object", file=str(path))
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        raise RunError(f"missing field(s) {', '.join(missing)}", file=str(path))


def _check_resolved(path: Path) -> None:
    import yaml

    try:
        scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        mark = getattr(err, "problem_mark", None)
        reason = f"{err.problem}, line {mark.line + 1}" if mark else str(err).splitlines()[0]
        raise RunError(f"not readable YAML ({reason})", file=str(path)) from None
    if not isinstance(scenario, dict):
        raise RunError("expected a scenario mapping", file=str(path))


def _check_table(
    path: Path, text_columns: tuple[str, ...], number_columns: tuple[str, ...]
) -> None:
    try:
        table = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise RunError(
            f"not a readable CSV table ({str(err).splitlines()[0]})", file=str(path)
        ) from None
    missing = [c for c in (*text_columns, *number_columns) if c not in table.columns]
    if missing:
        raise RunError(f"missing column(s) {', '.join(missing)}", file=str(path))
    if table.empty:
        raise RunError("has no rows", file=str(path))
    for column in number_columns:
        if not pd.api.types.is_numeric_dtype(table[column]):
            raise RunError(
                f"column {column!r} holds text where numbers are expected", file=str(path)
            )

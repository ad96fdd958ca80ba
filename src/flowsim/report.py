"""One self-contained HTML page from result folders: what was run, the fit, the counterfactuals.

Figures are embedded as base64 PNG, styles are inline: the page opens with no network.
It reads only what the commands wrote (never re-runs a simulation).
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from flowsim import __version__
from flowsim.errors import RunError

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;\
margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;\
margin-top:2em}
h3{font-size:1.05em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.text,th.text{text-align:left;max-width:28em}
td.wide{min-width:16em}
td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
nav li{margin:.1em 0}nav li.l3{margin-left:1.5em}
.note{color:#555;font-size:.9em}code{font-size:.85em;overflow-wrap:anywhere}
"""

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
#: Where source ids (P26, LC3, ...) are listed, one anchor each (the lower-case id).
SOURCES = "docs/sources.md"
#: A source id: capitals then digits, e.g. P26, LC3, FB6 (not inside a longer word).
SOURCE_ID = re.compile(r"\b([A-Z]{1,3}[0-9]{1,3})\b")
#: Text columns given room for a sentence.
WIDE = {"words and source", "note"}
#: Columns shown with a sign (differences).
SIGNED = {"difference", "95% CI low", "95% CI high", "log error"}


def number(value: float, signed: bool = False) -> str:
    """A number as people read it: ``194,000``, ``8,314``, ``14.9``, ``0.196``."""
    if pd.isna(value):
        return ""
    sign = "+" if signed else ""
    if abs(value) >= 100:
        return f"{value:{sign},.0f}"
    if value == int(value):
        return f"{value:{sign}.0f}"
    return f"{value:{sign}.3g}"


def replications(n: int) -> str:
    """``1 replication``, ``20 replications``."""
    return f"{number(n)} replication" + ("" if n == 1 else "s")


class Page:
    """The sections of the page, with the table of contents made from their headings."""

    def __init__(self, sources: str) -> None:
        self.parts: list[str] = []
        self.contents: list[tuple[int, str, str]] = []
        self.sources = sources

    def heading(self, level: int, text: str) -> None:
        """A numbered anchor and a heading that the contents link to."""
        anchor = f"s{len(self.contents) + 1}-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        self.contents.append((level, anchor, text))
        self.parts.append(f"<h{level} id='{anchor}'>{html.escape(text)}</h{level}>")

    def add(self, *parts: str) -> None:
        """HTML to append."""
        self.parts.extend(parts)

    def text(self, value: object) -> str:
        """Escaped text whose source ids link to their entry in the sources list."""
        # An identifier may break after its underscores.
        escaped = html.escape(" ".join(str(value).split())).replace("_", "_<wbr>")
        return SOURCE_ID.sub(
            lambda m: f"<a href='{self.sources}#{m.group(1).lower()}'>{m.group(1)}</a>", escaped
        )

    def table(self, frame: pd.DataFrame, text_columns: tuple[str, ...] = ()) -> str:
        """An HTML table: numbers formatted for reading, text columns left-aligned and linked."""

        def cell(column: str, value: object) -> str:
            if column in text_columns:
                kind = "text wide" if column in WIDE else "text"
                return f"<td class='{kind}'>{self.text(value) if pd.notna(value) else ''}</td>"
            if isinstance(value, bool | np.bool_):
                return f"<td>{'yes' if value else 'no'}</td>"
            if isinstance(value, int | float | np.number):
                return f"<td>{number(float(value), column in SIGNED)}</td>"
            return f"<td>{html.escape(str(value))}</td>"

        head = "".join(
            f"<th class='text'>{html.escape(str(c))}</th>"
            if c in text_columns
            else f"<th>{html.escape(str(c))}</th>"
            for c in frame.columns
        )
        body = "".join(
            "<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
            for row in frame.itertuples(index=False)
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    def html(self, title: str) -> str:
        """The whole page."""
        items = "".join(
            f"<li class='l{level}'><a href='#{anchor}'>{html.escape(text)}</a></li>"
            for level, anchor, text in self.contents
        )
        intro, *sections = self.parts
        contents = f"<nav><h2>Contents</h2><ul>{items}</ul></nav>"
        body = "\n".join([f"<h1>{html.escape(title)}</h1>", intro, contents, *sections])
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>\n"
        )


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _metadata(folder: Path) -> dict:
    return json.loads((folder / "metadata.json").read_text(encoding="utf-8"))


def _resolved(folder: Path) -> dict:
    import yaml

    path = folder / "scenario.resolved.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def when(value: object) -> str:
    """A time as ``28 Sep 2022 14:15 (UTC+02:00)``."""
    stamp = pd.Timestamp(str(value))
    offset = stamp.strftime("%z")
    return f"{stamp:%d %b %Y %H:%M} (UTC{offset[:3]}:{offset[3:]})" if offset else f"{stamp}"


def when_key(spec: dict) -> pd.Timestamp:
    """The start of a policy of a resolved scenario, to sort by."""
    return pd.Timestamp(str(spec.get("start")))


def run_label(meta: dict) -> str:
    """The scenario and its overrides, e.g. ``historical_2022 with policies.finland_ban=null``."""
    overrides = meta.get("overrides") or []
    return f"{meta['scenario']} with {', '.join(overrides)}" if overrides else meta["scenario"]


def _provenance(meta: dict, folder: Path) -> str:
    where = (
        f"Dask scheduler {meta['scheduler']} ({meta['workers']} workers)"
        if meta.get("scheduler")
        else f"{meta.get('workers', '?')} local processes"
    )
    commit, created = html.escape(meta["git_commit"]), html.escape(meta["created_utc"])
    parts = [
        f"{replications(meta['replications'])}, seed {meta['seed']}, "
        f"flowsim {html.escape(meta['version'])}, commit <code>{commit}</code>, "
        f"{number(meta['wall_seconds'])} s on {html.escape(where)}, created {created}; "
        f"folder <code>{html.escape(str(folder))}</code>."
    ]
    if meta.get("command"):
        parts.append(f"Command: <code>{html.escape(meta['command'])}</code>.")
    if meta.get("observations"):
        obs = meta["observations"]
        parts.append(
            f"Reported figures: <code>{html.escape(obs['path'])}</code> "
            f"(sha256 {html.escape(obs['sha256'][:12])}...)."
        )
    return "<p class='note'>" + " ".join(parts) + "</p>"


def _description(page: Page, meta: dict, scenario: dict) -> str:
    """The scenario's description, and what the overrides changed that it may not say."""
    description = f"<p>{page.text(scenario.get('description', ''))}</p>"
    overrides = meta.get("overrides") or []
    if not overrides:
        return description
    removed = [o.split("=")[0].removeprefix("policies.") for o in overrides]
    removed = [p for o, p in zip(overrides, removed, strict=True) if o.endswith("=null")]
    gone = (
        f" It may describe policies the overrides removed: {', '.join(removed)}." if removed else ""
    )
    return (
        f"<p><b>Overrides</b>: {html.escape(', '.join(overrides))}. The description below was "
        f"written for the scenario file, before the overrides.{html.escape(gone)}</p>" + description
    )


def _scenario_section(page: Page, folder: Path) -> None:
    """What was run: the scenario, its overrides, the policies in force, how it was run."""
    meta = _metadata(folder)
    scenario = _resolved(folder)
    page.add(_description(page, meta, scenario))
    policies = scenario.get("policies") or {}
    if policies:
        rows = pd.DataFrame(
            [
                {
                    "policy": pid,
                    "type": spec.get("type", ""),
                    "start (local time of the file)": when(spec.get("start")),
                    "source": spec.get("source", ""),
                    "note": spec.get("note", ""),
                }
                for pid, spec in sorted(policies.items(), key=lambda kv: when_key(kv[1]))
            ]
        )
        page.add(
            f"<p>Policies in force ({len(rows)}):</p>",
            page.table(rows, text_columns=tuple(rows.columns)),
        )
    page.add(_provenance(meta, folder))


def _fit_section(page: Page, folder: Path, label: str, note: str = "") -> None:
    fit = pd.read_csv(folder / "fit.csv")
    ok = fit[fit["status"] == "ok"]
    page.heading(3, f"Reported figures against {label}")
    page.add(
        f"<p>{len(fit)} reported figures, {len(ok)} modelled; median |log(simulated / reported)| "
        f"{number(ok['log_error'].abs().median())}; "
        f"{ok['covered'].astype(float).mean():.0%} inside the simulated 90% band.{note}</p>"
    )
    page.add(page.table(fit_rows(fit), text_columns=TEXT_FIT_COLUMNS))
    for name in ("fit.png", "validation/fit.png"):
        if (folder / name).exists():
            page.add(_image(folder / name, "simulated against reported"))
            break


def reported(row: pd.Series) -> str:
    """A reported figure in words: ``9,642``, ``over 8,000``, ``35,000 to 42,000``."""
    value, low, high = (row[c] for c in ("value", "low", "high"))
    if pd.notna(low) and pd.notna(high):
        bounds = f"{number(low)} to {number(high)}"
        return f"{number(value)} ({bounds})" if pd.notna(value) else bounds
    bound = (
        f"over {number(low)}"
        if pd.notna(low)
        else f"under {number(high)}"
        if pd.notna(high)
        else ""
    )
    return f"{number(value)} ({bound})" if pd.notna(value) and bound else number(value) or bound


#: The columns of `fit_rows` that are text.
TEXT_FIT_COLUMNS = (
    "id",
    "where",
    "metric",
    "reported",
    "simulated median (90% range)",
    "words and source",
)


def fit_rows(fit: pd.DataFrame) -> pd.DataFrame:
    """The fit table as a reader reads it: one row per reported figure, numbers in words."""
    blank = pd.Series("", index=fit.index)
    country = fit.get("country", blank).fillna("")
    # A checkpoint is named when the figure is one checkpoint's, not a country's sum of them.
    checkpoint = fit.get("checkpoint", blank).fillna("")
    checkpoint = checkpoint.map(lambda c: f" ({c})" if c and "+" not in c else "")
    words, source = (fit.get(c, blank).fillna("") for c in ("wording", "source"))
    return pd.DataFrame(
        {
            "id": fit["id"],
            "where": country.str.replace("+", " + ") + checkpoint,
            "metric": fit["metric"],
            "reported": fit.apply(reported, axis=1),
            "simulated median (90% range)": [
                f"{number(m)} ({number(a)} to {number(b)})" if pd.notna(m) else ""
                for m, a, b in zip(fit["sim_p50"], fit["sim_p05"], fit["sim_p95"], strict=True)
            ],
            "log error": fit["log_error"],
            "covered": fit["covered"].map({True: "yes", False: "no"}),
            "status": fit["status"],
            "words and source": [
                (f"\u201c{w}\u201d " if w else "") + (f"({s})" if s else "")
                for w, s in zip(words, source, strict=True)
            ],
        }
    )


def _parameters_section(page: Page, folder: Path) -> None:
    params = pd.read_csv(folder / "parameters.csv")
    page.heading(3, "Calibrated parameters")
    page.add(
        "<p class='note'>95% intervals from the curvature of each parameter's likelihood "
        "profile; 'not identified' means the reported figures do not pin the parameter "
        "down.</p>",
        page.table(
            params[
                ["name", "start", "fitted", "lower", "upper", "ci_low", "ci_high", "identified"]
            ],
            text_columns=("name",),
        ),
    )


def counterfactual_title(name: str, countries: list[str]) -> str:
    """``no_finland_ban`` as ``no Finland ban``: words of a country name capitalised."""
    spelled = {c.lower(): c for c in countries}
    return " ".join(spelled.get(word, word) for word in name.split("_"))


def _comparison_section(page: Page, folder: Path) -> None:
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
    page.heading(3, f"Entries over the horizon, against {baseline}")
    page.add(
        "<p>Per country, against "
        f"<b>{html.escape(baseline)}</b>. Every scenario ran on the same random numbers; "
        "differences are paired by replication, with Student-t 95% intervals.</p>",
        page.table(show, text_columns=("scenario", "country")),
    )
    for name, alt in (
        ("daily_entries.png", "daily entries by scenario"),
        ("differences.png", "paired differences"),
        ("queues.png", "queues and waits"),
    ):
        if (folder / name).exists():
            page.add(_image(folder / name, alt))
    scenarios = folder / "scenarios"
    if not scenarios.is_dir():
        return
    base_policies = set(_resolved(scenarios / baseline).get("policies") or {})
    for sub in sorted(scenarios.iterdir()):
        if not (sub / "metadata.json").exists():
            continue
        resolved = _resolved(sub)
        kind = "Baseline" if sub.name == baseline else "Counterfactual"
        page.heading(
            3, f"{kind}: {counterfactual_title(sub.name, list(resolved.get('countries', {})))}"
        )
        page.add(_description(page, _metadata(sub), resolved))
        if sub.name != baseline and resolved:
            policies = set(resolved.get("policies") or {})
            removed, added = sorted(base_policies - policies), sorted(policies - base_policies)
            change = [f"removed: {', '.join(removed)}"] if removed else []
            change += [f"added: {', '.join(added)}"] if added else []
            said = html.escape("; ".join(change) or "the same ids")
            page.add(f"<p>Policies against the baseline: {said}.</p>")
        page.add(_provenance(_metadata(sub), sub))


def _kind(folder: Path) -> str:
    if (folder / "comparison.csv").exists():
        return "comparison"
    if (folder / "parameters.csv").exists():
        return "calibration"
    return "fit" if (folder / "fit.csv").exists() else "run"


def build_report(folders: list[Path], title: str = "flowsim report", sources: str = SOURCES) -> str:
    """The HTML page for result folders written by run, validate, calibrate or compare.

    `sources` is the link to the list of source ids, relative to where the page is written.
    """
    for folder in folders:
        check_result_folder(folder)
    page = Page(sources)
    page.add(
        f"<p class='note'>Made by flowsim {__version__} from "
        + ", ".join(f"<code>{html.escape(str(f))}</code>" for f in folders)
        + ". Source ids (P26, LC3, ...) link to their entry in the list of sources.</p>"
    )
    fits = sum((f / "fit.csv").exists() for f in folders)
    for folder in folders:
        kind = _kind(folder)
        meta_dir = folder if (folder / "metadata.json").exists() else folder / "validation"
        meta = _metadata(meta_dir) if (meta_dir / "metadata.json").exists() else None
        if kind == "comparison":
            base = pd.read_csv(folder / "comparison.csv", usecols=["scenario"])["scenario"]
            others = base.nunique() - 1
            plural = "scenario" if others == 1 else "scenarios"
            page.heading(2, f"Counterfactuals: {others} {plural} against {base.iloc[0]}")
        elif meta is not None:
            heading = {"fit": "Fit to reported figures", "calibration": "Calibration", "run": "Run"}
            page.heading(2, f"{heading[kind]}: {run_label(meta)}")
        else:
            page.heading(2, f"Results in {folder.name}")
        if meta is not None:
            page.heading(3, f"What was run: {run_label(meta)}")
            _scenario_section(page, meta_dir)
        if (folder / "daily_entries.png").exists() and kind != "comparison":
            page.add(_image(folder / "daily_entries.png", "simulated daily entries"))
        if (folder / "queues.png").exists() and kind != "comparison":
            page.add(_image(folder / "queues.png", "queues and waits"))
        if (folder / "fit.csv").exists():
            which = _run_of(folder, kind)
            note = (
                " The page has more than one fit table: each comes from its own run, so the "
                "simulated columns differ by Monte Carlo noise."
                if fits > 1
                else ""
            )
            _fit_section(page, folder, which, note)
        if (folder / "parameters.csv").exists():
            _parameters_section(page, folder)
        if kind == "comparison":
            _comparison_section(page, folder)
    return page.html(title)


def _run_of(folder: Path, kind: str) -> str:
    """Which run a fit table comes from, in words."""
    if kind == "comparison":
        scenarios = folder / "scenarios"
        name = pd.read_csv(folder / "comparison.csv", usecols=["scenario"])["scenario"].iloc[0]
        meta = _metadata(scenarios / name) if (scenarios / name / "metadata.json").exists() else {}
        n = replications(meta["replications"]) if "replications" in meta else "?"
        return f"the comparison's baseline {name} ({n}, {folder.name})"
    meta_dir = folder if (folder / "metadata.json").exists() else folder / "validation"
    if not (meta_dir / "metadata.json").exists():
        return folder.name
    meta = _metadata(meta_dir)
    return f"{run_label(meta)} ({replications(meta['replications'])}, {folder.name})"


def check_result_folder(folder: Path) -> None:
    """Raise `RunError`, naming the file and what is wrong, if no page can be made from `folder`."""
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

"""The sections of the page: what was run, the fit to reported figures, the counterfactuals."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from flowsim import __version__
from flowsim.report.checks import check_result_folder
from flowsim.report.elements import SOURCES, Page, image, number, replications


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


def _pred(ok: pd.DataFrame) -> str:
    """The coverage of the predictive band, where the fit table has it (older ones do not)."""
    if "covered_pred" not in ok:
        return ""
    share = ok["covered_pred"].astype(float).mean()
    return f", {share:.0%} inside the 90% band of the figure as reported (with reporting error)"


def _fit_section(page: Page, folder: Path, label: str, note: str = "") -> None:
    fit = pd.read_csv(folder / "fit.csv")
    ok = fit[fit["status"] == "ok"]
    page.heading(3, f"Reported figures against {label}")
    page.add(
        f"<p>{len(fit)} reported figures, {len(ok)} modelled; median |log(simulated / reported)| "
        f"{number(ok['log_error'].abs().median())}; "
        f"{ok['covered'].astype(float).mean():.0%} inside the simulated 90% band{_pred(ok)}."
        f"{note}</p>"
    )
    page.add(
        page.table(fit_rows(fit), text_columns=TEXT_FIT_COLUMNS),
        "<p class='note'>log error: log(simulated median / reported), so +0.19 is 21% high "
        "and -0.62 is 46% low; covered: the reported value or bounds lie inside the simulated "
        "90% range. A flow over several days is the total over its window.</p>",
    )
    for name in ("fit.png", "validation/fit.png"):
        if (folder / name).exists():
            page.add(image(folder / name, "simulated against reported"))
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
            "status": fit["status"].str.replace("_", " "),
            "words and source": [
                (f"\u201c{w}\u201d " if w else "") + (f"({s})" if s else "")
                for w, s in zip(words, source, strict=True)
            ],
        }
    )


def _parameters_section(page: Page, folder: Path) -> None:
    params = pd.read_csv(folder / "parameters.csv")
    page.heading(3, "Calibrated parameters")
    if "post_median" in params.columns:
        note = (
            "Posterior median and 90% credible interval of each parameter, against its "
            "uniform prior; 'moved by data' means the reported figures narrowed it."
        )
        columns = ["name", "lower", "upper", "post_median", "post_ci_low", "post_ci_high",
                   "ess", "moved_by_data"]  # fmt: skip
    else:
        note = (
            "95% intervals from the curvature of each parameter's likelihood profile; 'not "
            "identified' means the reported figures do not pin the parameter down."
        )
        columns = ["name", "start", "fitted", "lower", "upper", "ci_low", "ci_high", "identified"]
    page.add(f"<p class='note'>{note}</p>", page.table(params[columns], text_columns=("name",)))


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
    columns = ["scenario", "country", "baseline_mean", "mean", "diff_mean", "diff_ci_low",
               "diff_ci_high", "post_ci_low", "post_ci_high"]  # fmt: skip
    show = rows[[c for c in columns if c in rows.columns]].rename(
        columns={
            "baseline_mean": f"{baseline}",
            "mean": "scenario mean",
            "diff_mean": "difference",
            "diff_ci_low": "95% CI low",
            "diff_ci_high": "95% CI high",
            "post_ci_low": "effect 90% low",
            "post_ci_high": "effect 90% high",
        }
    )
    page.heading(3, f"Entries over the horizon, against {baseline}")
    page.add(
        "<p>Per country, against "
        f"<b>{html.escape(baseline)}</b>. Every scenario ran on the same random numbers; "
        "differences are paired by replication, with Student-t 95% intervals of the mean; "
        "the effect's 90% interval is that of the paired differences themselves, over the "
        "posterior draws when the scenarios carry a posterior.</p>",
        page.table(show, text_columns=("scenario", "country")),
    )
    for name, alt in (
        ("daily_entries.png", "daily entries by scenario"),
        ("differences.png", "paired differences"),
        ("queues.png", "queues and waits"),
    ):
        if (folder / name).exists():
            page.add(image(folder / name, alt))
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
            page.add(image(folder / "daily_entries.png", "simulated daily entries"))
        if (folder / "queues.png").exists() and kind != "comparison":
            page.add(image(folder / "queues.png", "queues and waits"))
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

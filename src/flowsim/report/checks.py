"""Whether a folder can be read into a page: the files, fields and columns the page needs."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd

from flowsim.errors import RunError

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


#: ``parameters.csv`` of a posterior calibration (it has ``post_median``) instead.
POSTERIOR_PARAMETERS = (
    ("name", "moved_by_data"),
    ("lower", "upper", "post_median", "post_ci_low", "post_ci_high", "ess"),
)


def _columns(path: Path, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The columns `path` (a table called `name`) must have."""
    if name == "parameters.csv":
        with contextlib.suppress(OSError, UnicodeDecodeError):
            header = path.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
            if "post_median" in header:
                return POSTERIOR_PARAMETERS
    return TABLE_COLUMNS[name]


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
    for name in TABLE_COLUMNS:
        if (folder / name).exists():
            _check_table(folder / name, *_columns(folder / name, name))


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

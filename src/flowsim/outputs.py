"""Where commands write: what flowsim recognises as its own, and what it refuses to replace.

A result folder is flowsim's when its ``metadata.json`` (or, for a comparison, that of
one of its ``scenarios/*/``; for a calibration, ``calibration.json``) holds the marker
``"flowsim": {"format": FORMAT}``, which only flowsim writes; a file name alone proves
nothing. The checks here run before any replication, so that a command never runs for
an hour and then fails to write, and never replaces what the user made:

* never: an input of the command, a symbolic link, the current folder, a folder that is
  not flowsim's (deleting it is the user's call);
* only with ``--force``: a file flowsim did not write, or a result of other scenarios.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from flowsim.errors import RunError

#: Version of the layout of result folders, in their marker.
FORMAT = 1
MARKER = {"flowsim": {"format": FORMAT}}
_FORCE = "choose another name or pass --force to replace it"


def has_marker(path: Path) -> bool:
    """True if `path` is a JSON object carrying flowsim's marker."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    marker = data.get("flowsim") if isinstance(data, dict) else None
    return isinstance(marker, dict) and isinstance(marker.get("format"), int)


def written_by_flowsim(folder: Path) -> bool:
    """True if `folder` is a result, comparison or calibration folder that flowsim wrote."""
    return (
        has_marker(folder / "metadata.json")
        or has_marker(folder / "calibration.json")
        or any(has_marker(p) for p in folder.glob("scenarios/*/metadata.json"))
    )


def scenarios_in(folder: Path) -> set[str]:
    """Names of the scenarios whose results `folder` holds."""
    names = set()
    for meta in (folder / "metadata.json", *folder.glob("scenarios/*/metadata.json")):
        if has_marker(meta):
            name = json.loads(meta.read_text(encoding="utf-8")).get("scenario")
            names.add(str(name))
    return names


def _check_place(out: Path) -> None:
    """Refuse a path no write could put a result at."""
    if out.name in ("", ".", "..") or out.resolve() == Path.cwd():
        raise RunError("is the current folder (or its parent); name a new folder", file=str(out))
    if out.is_symlink():
        raise RunError(
            "is a symbolic link, which would be replaced, not followed; give the real path",
            file=str(out),
        )
    for above in out.parents:
        if above.exists() and not above.is_dir():
            raise RunError(f"{above} is a file, not a folder", file=str(out))
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunError("cannot write results (permission denied)", file=str(out))
    if out.exists() and not os.access(out, os.W_OK):
        raise RunError("cannot write results (permission denied)", file=str(out))


def check_folder(
    out: Path,
    *,
    force: bool = False,
    scenarios: Collection[str] = (),
    inputs: Iterable[Path] = (),
) -> None:
    """Refuse, before any work, a result folder that the write would fail on or must not replace.

    `out` may be missing, empty, or flowsim's result of (some of) the same `scenarios`
    (of others only with `force`), and holds none of the command's `inputs`.
    """
    _check_place(out)
    for item in inputs:
        if out.resolve() in Path(item).resolve().parents:
            raise RunError(
                f"holds an input of this command ({item}), which replacing it would delete; "
                "choose another --out",
                file=str(out),
            )
    if not out.exists():
        return
    if not out.is_dir():
        raise RunError(
            "exists and is not a folder (results are written as a folder)", file=str(out)
        )
    if not any(out.iterdir()):
        return
    if not written_by_flowsim(out):
        raise RunError(
            "exists and is not a flowsim result folder, so it will not be replaced; "
            "choose another --out or delete it",
            file=str(out),
        )
    others = scenarios_in(out) - set(scenarios)
    if scenarios and others and not force:
        raise RunError(
            f"holds a result of {', '.join(sorted(others))}, not of "
            f"{', '.join(sorted(scenarios))}; {_FORCE}",
            file=str(out),
        )


def check_file(
    path: Path,
    *,
    force: bool = False,
    inputs: Iterable[Path] = (),
    ours: Callable[[Path], bool] = lambda _path: False,
) -> None:
    """Refuse, before any work, a file that must not be (over)written.

    Never an input (or a file inside an input folder); an existing file only if `ours`
    says flowsim wrote it, or with `force`.
    """
    _check_place(path)
    if path.is_dir():
        raise RunError("is a folder; give a file name", file=str(path))
    target = path.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if target == source or source in target.parents:
            raise RunError(
                f"is {'inside ' if target != source else ''}an input of this command "
                f"({item}); it will not be overwritten",
                file=str(path),
            )
    if path.exists() and not force and not ours(path):
        raise RunError(f"exists and was not written by flowsim; {_FORCE}", file=str(path))


def starts_with(prefix: bytes) -> Callable[[Path], bool]:
    """A test for `check_file`: the file begins with what flowsim writes there."""

    def test(path: Path) -> bool:
        try:
            with path.open("rb") as handle:
                return handle.read(len(prefix)) == prefix
        except OSError:
            return False

    return test


def check_work_folder(
    out: Path, *, force: bool = False, record: str = "calibration.json", what: str = "a calibration"
) -> None:
    """Refuse a folder `what` writes into, unless empty, marked by its `record`, or `force`."""
    _check_place(out)
    if out.exists() and not out.is_dir():
        raise RunError("exists and is not a folder", file=str(out))
    ours = has_marker(out / record)
    if out.is_dir() and any(out.iterdir()) and not ours and not force:
        raise RunError(
            f"holds files flowsim did not write (it has no {record}), which {what} would "
            "overwrite; choose another --out or pass --force",
            file=str(out),
        )


def check_resume_folder(folder: Path) -> None:
    """Refuse a comparison's resume folder that holds anything but flowsim's runs.

    The folder is removed once the comparison is written, so it must be flowsim's alone
    (hidden entries are the atomic writes' own).
    """
    if not folder.exists() and not folder.is_symlink():
        return
    foreign = folder.is_symlink() or not folder.is_dir()
    if not foreign:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
        foreign = any(not has_marker(p / "metadata.json") for p in entries)
    if foreign:
        raise RunError(
            "holds what flowsim did not write, and a comparison removes this folder when it "
            "ends; move it away",
            file=str(folder),
        )

"""The bad-input corpus: each corrupt file gives exactly its one-line error, exit 2, nothing written."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from flowsim.cli import main

CORPUS = Path(__file__).parent / "bad_inputs"


def _table(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            left, expected = line.split("\t")
            rows.append((left, expected))
    return rows


FILES = _table("expected.tsv")
OPTIONS = _table("options.tsv")


def test_the_corpus_is_complete_and_large_enough():
    listed = {name for name, _ in FILES}
    present = {p.name for p in CORPUS.iterdir() if p.suffix in (".yaml", ".csv") and p.name != "_base.yaml"}
    assert listed == present
    assert len(FILES) >= 40


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, list[str]]:
    monkeypatch.chdir(CORPUS)
    try:
        code = main(args)
    except SystemExit as stop:  # argparse
        code = stop.code
    err = capsys.readouterr().err
    return code, err.strip().splitlines()


@pytest.mark.parametrize(("name", "expected"), FILES, ids=[n for n, _ in FILES])
def test_each_corrupt_file_gives_its_one_line_error(name, expected, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    if name.endswith(".csv"):
        args = ["validate", "_base.yaml", "--observations", name, "-q", "--out", str(out)]
    else:
        args = ["run", name, "-q", "--out", str(out)]
    code, err = run_cli(args, capsys, monkeypatch)
    assert code == 2
    assert err == [expected]
    assert f"error: {name}" in expected  # the file is named first
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(("command", "expected"), OPTIONS, ids=[c for c, _ in OPTIONS])
def test_each_command_line_mistake_gives_its_one_line_error(command, expected, tmp_path, capsys, monkeypatch):
    args = [a.replace("{base}", "_base.yaml") for a in shlex.split(command)] + ["--out", str(tmp_path / "o")]
    code, err = run_cli(args, capsys, monkeypatch)
    assert code == 2 and err == [expected]
    assert not (tmp_path / "o").exists()

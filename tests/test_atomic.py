"""Atomic writes: complete or absent, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from flowsim.atomic import atomic_dir, atomic_write_text


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_and_folders_get_the_usual_permissions(tmp_path, umask_022):
    atomic_write_text(tmp_path / "report.html", "<html></html>")
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    with atomic_dir(tmp_path / "run") as tmp:
        (tmp / "daily.csv").write_text("x\n")
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755


def test_a_failure_inside_leaves_neither_the_result_nor_a_temporary_folder(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "run") as tmp:
        (tmp / "daily.csv").write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_a_rewrite_replaces_the_old_result_whole(tmp_path):
    for text in ("old", "new"):
        with atomic_dir(tmp_path / "run") as tmp:
            (tmp / text).write_text(text)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]

"""The compiled engine gives the reference engine's outputs, bit for bit.

Both engines draw the same numbers from the same named streams in the same order and
do the same arithmetic, so every aggregate must be equal, not close: one wrong draw,
one event out of order or one counter bumped in another hour shows as a difference.
Checked on a full run of the calibrated history (1.4 million travellers, every policy
type of the history), on hypothesis's random scenarios with every mechanism and every
policy type on (as in the conservation test), with opening hours and departures.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_conservation import scenarios

from flowsim.engine import select
from flowsim.engine.compiled import cache, kernel
from flowsim.engine.compiled.cache import cache_folder, discard_unreadable
from flowsim.engine.compiled.model import CompiledModel
from flowsim.engine.model import Model
from flowsim.policies import install_all
from flowsim.scenario import load_scenario
from flowsim.scenario.loader import deep_merge

ROOT = Path(__file__).resolve().parents[1]
ARRAYS = (
    "flows",
    "wait_person_hours",
    "car_entries",
    "car_wait_person_hours",
    "wait_histogram",
    "stocks",
    "origin_flows",
    "still_at_site",
)


def run(model_class, scenario, seed, replication):
    model = model_class(scenario, seed, replication)
    install_all(scenario, model)
    return model.run()


def assert_identical(scenario, seed: int, replication: int) -> None:
    reference = run(Model, scenario, seed, replication)
    compiled = run(CompiledModel, scenario, seed, replication)
    for name in ARRAYS:
        a, b = getattr(reference, name), getattr(compiled, name)
        assert a.shape == b.shape and np.array_equal(a, b), name
    assert (reference.in_transit, reference.events) == (compiled.in_transit, compiled.events)
    assert reference.stage_stats == compiled.stage_stats


def test_the_calibrated_history_is_identical():
    scenario = load_scenario(ROOT / "scenarios" / "historical_2022_calibrated.yaml")
    assert_identical(scenario, seed=7, replication=0)


# Opening hours on one checkpoint, departures from both countries (routes counted at
# entry and at a named checkpoint), on top of the conservation test's random scenarios.
EXTRAS = {
    "checkpoints": {"gate": {"opening_hours": [{"open": "07:00", "close": "21:00"}]}},
    "countries": {
        "Testland": {
            "departures": [
                {"to": "return", "share": 0.3, "stay_days": {"dist": "exponential", "mean": 0.5}},
                {"to": "gate", "share": 0.2, "stay_days": {"dist": "fixed", "value": 0.25}},
            ]
        },
        "Otherland": {
            "departures": [
                {
                    "to": "return",
                    "share": 0.4,
                    "surge_share": 0.1,
                    "stay_days": {"dist": "gamma", "mean": 1.0, "cv": 0.5},
                }
            ]
        },
    },
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenarios(), extras=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_random_scenarios_are_identical(data, extras, seed):
    if extras:
        data = deep_merge(data, EXTRAS)
    assert_identical(build(data), seed=seed, replication=seed % 3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenarios(), first_rows=st.integers(1, 64), seed=st.integers(0, 2**31 - 1))
def test_rows_grown_and_compacted_from_a_few_change_nothing(data, first_rows, seed):
    """The random scenarios from a handful of rows: growth, reuse and compaction all the time."""
    from flowsim.engine.compiled import model

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "FIRST_ROWS", first_rows)
        assert_identical(build(deep_merge(data, EXTRAS)), seed=seed, replication=seed % 3)


def test_the_compiled_engine_is_the_default_and_traces_use_the_reference(monkeypatch):
    monkeypatch.delenv("FLOWSIM_ENGINE", raising=False)
    assert select.model_class() is CompiledModel
    assert select.model_class(trace=True) is Model
    assert select.model_class("reference") is Model
    monkeypatch.setenv("FLOWSIM_ENGINE", "reference")
    assert select.model_class() is Model
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        select.model_class("fast")


def test_without_numba_the_reference_engine_runs_with_one_notice(monkeypatch, capsys):
    monkeypatch.delenv("FLOWSIM_ENGINE", raising=False)
    monkeypatch.setitem(sys.modules, "flowsim.engine.compiled.model", None)  # import fails
    monkeypatch.setattr(select, "_noticed", False)
    assert select.model_class() is Model
    assert select.model_class() is Model
    err = capsys.readouterr().err
    assert err.count("numba is not installed; running the reference engine") == 1


def test_draws_that_are_not_numpys_run_the_reference_engine_with_one_notice(monkeypatch, capsys):
    from flowsim.engine.compiled import pcg64

    monkeypatch.delenv("FLOWSIM_ENGINE", raising=False)
    monkeypatch.setattr(pcg64, "mismatches", lambda: ["poisson(10.0, 0.0)"])
    monkeypatch.setattr(pcg64, "check_key", lambda: "draws-a-new-numba")
    monkeypatch.setattr(select, "_compiled_ok", None)
    monkeypatch.setattr(select, "_noticed", False)
    assert select.model_class() is Model
    assert select.model_class() is Model
    err = capsys.readouterr().err
    assert err.count("draws differ from numpy's (poisson(10.0, 0.0)); running the reference") == 1
    assert not cache.passed(cache_folder(kernel.advance), "draws-a-new-numba")


def test_the_draws_check_runs_once_per_numba_numpy_and_processor(monkeypatch, tmp_path):
    from flowsim.engine.compiled import pcg64

    checks = []
    monkeypatch.setattr(pcg64, "mismatches", lambda: checks.append(1) or [])
    monkeypatch.setattr(cache, "cache_folder", lambda dispatcher: tmp_path)
    for key in ("draws-one", "draws-one", "draws-two"):
        monkeypatch.setattr(pcg64, "check_key", lambda key=key: key)
        assert select._draws_mismatches() == []
    assert len(checks) == 2
    assert cache.passed(tmp_path, "draws-one") and cache.passed(tmp_path, "draws-two")


def test_unreadable_cache_files_are_deleted_and_readable_ones_kept(tmp_path):
    good_index = tmp_path / "kernel.advance-1.py311.nbi"
    good_index.write_bytes(pickle.dumps("0.68") + pickle.dumps(("stamp", {})))
    good_data = tmp_path / "kernel.advance-1.py311.1.nbc"
    good_data.write_bytes(pickle.dumps(("library", "bytes")))
    cut_short = tmp_path / "kernel.fill-2.py311.1.nbc"
    cut_short.write_bytes(pickle.dumps(("library", "bytes" * 100))[:40])
    garbage = tmp_path / "kernel.fill-2.py311.nbi"
    garbage.write_bytes(bytes(range(7, 90)))
    assert discard_unreadable(tmp_path) == [cut_short, garbage]
    kept = sorted([good_index.name, good_data.name, cache.VERIFIED])
    assert sorted(p.name for p in tmp_path.iterdir()) == kept


def test_a_cache_file_found_readable_is_read_again_only_once_it_changes(tmp_path, monkeypatch):
    data = tmp_path / "kernel.advance-1.py311.1.nbc"
    data.write_bytes(pickle.dumps(("library", "bytes")))
    read = []
    checked = cache.readable
    monkeypatch.setattr(cache, "readable", lambda path: read.append(path.name) or checked(path))
    assert discard_unreadable(tmp_path) == []
    assert discard_unreadable(tmp_path) == []
    assert read == [data.name]
    data.write_bytes(pickle.dumps(("library", "bytes"))[:30])  # damaged: another size
    assert discard_unreadable(tmp_path) == [data]
    assert read == [data.name, data.name]
    (tmp_path / cache.VERIFIED).write_text("{not json")  # a list cut short: all read again
    data.write_bytes(pickle.dumps(("library", "bytes")))
    assert discard_unreadable(tmp_path) == []
    assert read == [data.name] * 3


def test_files_of_a_past_source_are_deleted_and_the_present_ones_kept(tmp_path):
    def index(name, stamp, version="0.68"):
        (tmp_path / f"{name}.nbi").write_bytes(pickle.dumps(version) + pickle.dumps((stamp, {})))
        (tmp_path / f"{name}.1.nbc").write_bytes(pickle.dumps(("library", "bytes")))

    index("kernel.advance-300.py311", "now")  # the present source
    index("kernel.advance-268.py311", "before")  # a past one, at another line
    index("kernel.fill-400.py311", "before")
    index("sources.set_out-150.py311", "before")  # another module's: not judged here
    index("kernel.join-500.py311", "before", version="0.59")  # another numba's
    (tmp_path / "kernel.settle-9.py311.nbi").write_bytes(b"garbage")  # unreadable
    gone = cache.discard_stale(tmp_path, "kernel", "now", "0.68")
    assert sorted(p.name for p in gone) == [
        "kernel.advance-268.py311.1.nbc",
        "kernel.advance-268.py311.nbi",
        "kernel.fill-400.py311.1.nbc",
        "kernel.fill-400.py311.nbi",
    ]
    assert len(list(tmp_path.iterdir())) == 7


def test_no_present_kernel_is_taken_for_stale():
    """After the kernels ran, discarding stale files leaves every loaded kernel's index."""
    from flowsim.engine.compiled import sources

    small = load_scenario(ROOT / "tests" / "scenarios" / "small.yaml")
    run(CompiledModel, small, 1, 0)
    for dispatcher in (kernel.advance, kernel.launch, sources.set_out):
        assert cache.discard_stale_kernels(dispatcher) == []
        assert Path(dispatcher._cache._cache_file._index_path).is_file()


def test_the_kernels_cache_folder_is_found():
    folder = cache_folder(kernel.advance)
    assert folder is not None and folder.is_dir()


def test_a_numba_that_names_its_cache_otherwise_leaves_past_versions_in_place():
    class Cache:  # numba's private names changed: a folder, but no locator where it was
        _cache_path = str(cache_folder(kernel.advance))
        _impl = object()

    class Renamed:
        _cache = Cache()
        py_func = kernel.advance.py_func

    before = sorted(cache_folder(kernel.advance).iterdir())
    assert cache.discard_stale_kernels(Renamed()) == []
    assert sorted(cache_folder(kernel.advance).iterdir()) == before

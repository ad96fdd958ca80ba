"""Counterfactual comparison: paired intervals, a known effect, the CLI, plots and the report."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import yaml
from builders import build
from test_policies import START, two_borders

from flowsim.cli import main
from flowsim.compare import compare
from flowsim.scenario.loader import deep_merge

BAN = {
    "ban": {
        "type": "entry_ban",
        "start": START,
        "where": {"countries": ["Testland"]},
        "attribute": "visa",
        "source": "test",
    }
}


def renamed(data, name):
    return deep_merge(data, {"name": name})


def test_a_scenario_against_itself_differs_by_exactly_zero_and_pairing_beats_unpaired():
    data = two_borders(informed_share=0.5, divert_share=0.5)
    comparison = compare(
        [build(data), build(renamed(data, "same"))],
        replications=6,
        seed=4,
        workers=1,
        progress=False,
    )
    table = comparison.table
    same = table[(table.scenario == "same") & table["diff_mean"].notna()]
    assert (same["diff_mean"] == 0).all()
    assert ((same["diff_ci_low"] <= 0) & (same["diff_ci_high"] >= 0)).all()
    entries = same[
        (same.metric == "entries") & (same.checkpoint == "all") & (same.period == "horizon")
    ]
    unpaired = entries["unpaired_ci_high"] - entries["unpaired_ci_low"]
    paired = entries["diff_ci_high"] - entries["diff_ci_low"]
    assert (unpaired > 0).all() and (paired < unpaired).all()


def test_a_ban_with_a_known_effect():
    """Uninformed travellers who never divert: entries fall by exactly the persons refused."""
    data = two_borders()
    comparison = compare(
        [build(data), build(renamed(deep_merge(data, {"policies": BAN}), "ban"))],
        replications=6,
        seed=4,
        workers=1,
        progress=False,
    )
    t = comparison.table
    key = (
        (t.scenario == "ban")
        & (t.country == "Testland")
        & (t.checkpoint == "all")
        & (t.period == "horizon")
    )
    entries = t[key & (t.metric == "entries")].iloc[0]
    refusals = t[key & (t.metric == "refusals")].iloc[0]
    assert entries["diff_mean"] == -refusals["mean"]
    assert entries["diff_ci_low"] <= -refusals["mean"] <= entries["diff_ci_high"]
    assert entries["diff_ci_high"] < 0  # a real effect is detected
    # pairing narrows the interval of a real effect too
    assert (entries["diff_ci_high"] - entries["diff_ci_low"]) < (
        entries["unpaired_ci_high"] - entries["unpaired_ci_low"]
    )
    # the Otherland border is untouched (nobody diverts or is informed)
    other = t[
        (t.scenario == "ban")
        & (t.country == "Otherland")
        & (t.checkpoint == "all")
        & (t.period == "horizon")
        & (t.metric == "entries")
    ].iloc[0]
    assert other["diff_mean"] == 0


def test_weekly_periods_add_up_to_the_horizon():
    data = two_borders()
    comparison = compare([build(data)], replications=2, seed=4, workers=1, progress=False)
    t = comparison.table
    entries = t[(t.metric == "entries") & (t.checkpoint == "all") & (t.country == "Testland")]
    weeks = entries[entries.period.str.startswith("week")]["mean"].sum()
    assert weeks == entries[entries.period == "horizon"]["mean"].item()
    p95 = t[(t.metric == "wait_hours_p95") & (t.period == "horizon") & (t.checkpoint == "gate")][
        "mean"
    ].item()
    mean = t[(t.metric == "wait_hours_mean") & (t.period == "horizon") & (t.checkpoint == "gate")][
        "mean"
    ].item()
    assert p95 > mean > 0


def test_compare_and_report_commands(tmp_path, capsys):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(two_borders(informed_share=0.5)))
    ban = tmp_path / "ban.yaml"
    ban.write_text(yaml.safe_dump({"extends": "base.yaml", "name": "ban", "policies": BAN}))
    out = tmp_path / "cmp"
    assert (
        main(["compare", str(base), str(ban), "-n", "3", "-j", "1", "--out", str(out), "-q"]) == 0
    )
    printed = capsys.readouterr().out
    assert "ban" in printed and "Testland" in printed
    assert not (
        tmp_path / ".cmp.partial"
    ).exists()  # the resume checkpoints go once the result is written
    table = pd.read_csv(out / "comparison.csv")
    head = pd.read_csv(out / "headline.csv")
    assert set(head.scenario) == {"ban"} and (head.paired_to_unpaired_width > 0).all()
    assert set(table.scenario) == {"single", "ban"}
    for name in ("daily_entries", "differences", "queues"):
        assert (out / f"{name}.png").stat().st_size > 5000
        assert (out / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    assert np.isfinite(table[table.metric == "entries"]["diff_ci_low"]).all()
    page = tmp_path / "report.html"
    assert main(["report", str(out), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 3
    assert "http://" not in text and "https://" not in text
    assert "Counterfactuals" in text and "single" in text


def test_report_rejects_a_folder_that_is_not_a_result(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a flowsim result folder" in err[0]
    assert not (tmp_path / "r.html").exists()


def test_an_interrupted_comparison_resumes_from_its_finished_scenarios(tmp_path, monkeypatch):
    import flowsim.compare as compare_module

    data = two_borders(informed_share=0.5)
    scenarios = [build(data), build(renamed(deep_merge(data, {"policies": BAN}), "ban"))]
    full = compare(
        scenarios, replications=3, seed=4, workers=1, progress=False, checkpoints=tmp_path / "cp"
    )
    # The run died after the baseline: only its folder is left.
    import shutil

    shutil.rmtree(tmp_path / "cp" / "ban")
    calls = []
    real_run = compare_module.run
    monkeypatch.setattr(
        compare_module, "run", lambda sc, **kw: calls.append(sc.name) or real_run(sc, **kw)
    )
    resumed = compare(
        scenarios, replications=3, seed=4, workers=1, progress=False, checkpoints=tmp_path / "cp"
    )
    assert calls == ["ban"]
    pd.testing.assert_frame_equal(full.table, resumed.table)
    # A different seed is a different run: nothing is reused.
    calls.clear()
    compare(
        scenarios, replications=3, seed=5, workers=1, progress=False, checkpoints=tmp_path / "cp"
    )
    assert calls == ["single", "ban"]


def test_scenarios_with_another_horizon_checkpoints_or_time_zone_are_not_compared():
    import pytest

    from flowsim.errors import RunError

    data = two_borders()
    changes = {
        "horizon.end": {"horizon": {"end": "2022-09-08T00:00:00+03:00"}},
        "horizon.start": {"horizon": {"start": "2022-09-02T00:00:00+03:00"}},
        "checkpoints.other.timezone": {"checkpoints": {"other": {"timezone": "Europe/Moscow"}}},
        "checkpoints.other.country": {
            "countries": {"Thirdland": {}},
            "checkpoints": {"other": {"country": "Thirdland"}},
        },
    }
    for field, change in changes.items():
        other = build(deep_merge(renamed(data, "changed"), change))
        with pytest.raises(RunError) as err:
            compare([build(data), other], replications=1, workers=1, progress=False)
        assert err.value.file == "changed" and err.value.field_path == field
        assert "differs from the baseline 'single'" in err.value.problem
    fewer = copy.deepcopy(renamed(data, "fewer"))
    del fewer["checkpoints"]["other"]
    del fewer["demand"]["origins"]["home"]["travel_hours"]["other"]
    with pytest.raises(RunError, match="gate differs from the baseline 'single' \\(gate, other\\)"):
        compare([build(data), build(fewer)], replications=1, workers=1, progress=False)


def test_compare_and_validate_print_no_numpy_warning_and_leave_undefined_figures_undefined(
    tmp_path, capsys
):
    import warnings

    from flowsim.inference.observations import COLUMNS

    quiet = deep_merge(two_borders(), {"demand": {"origins": {"home": {"baseline_per_day": 2}}}})
    base, other = tmp_path / "base.yaml", tmp_path / "other.yaml"
    base.write_text(yaml.safe_dump(quiet))
    other.write_text(yaml.safe_dump(renamed(quiet, "other")))
    obs = tmp_path / "obs.csv"
    row = "w,Otherland,other,wait_hours,2022-09-03T00:00:00+03:00,2022-09-03T01:00:00+03:00,2,,,t,"
    obs.write_text(",".join(COLUMNS) + "\n" + row + "\n")
    run = ["-n", "2", "-j", "1", "-q"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["compare", str(base), str(other), *run, "--out", str(tmp_path / "c")]) == 0
        assert main(["validate", str(base), "--observations", str(obs), *run,
                     "--out", str(tmp_path / "v")]) == 0  # fmt: skip
    printed = capsys.readouterr()
    assert printed.err == ""
    assert "observations: 1 (0 modelled, 1 undefined in the simulation)" in printed.out
    assert "log-likelihood: undefined" in printed.out and "nan" not in printed.out
    fit = pd.read_csv(tmp_path / "v" / "fit.csv")
    assert fit["status"].tolist() == ["undefined_in_simulation"]
    assert fit[["sim_p50", "log_error"]].isna().all(axis=None)
    table = pd.read_csv(tmp_path / "c" / "comparison.csv")
    assert table[table.metric == "wait_hours_mean"]["mean"].isna().any()


def test_compare_progress_bars_name_their_scenario(monkeypatch):
    import flowsim.runner

    labels = []

    def recording(*args, **kwargs):
        labels.append(kwargs["desc"])
        return real(*args, **kwargs)

    real = flowsim.runner.tqdm
    monkeypatch.setattr(flowsim.runner, "tqdm", recording)
    data = two_borders(informed_share=0.5)
    compare([build(data), build(renamed(data, "other_one"))], replications=2, seed=1, workers=1)
    assert [label.split(" (~")[0] for label in labels] == ["single", "other_one"]

"""The likelihood far in both tails and at zero (issue 14's crash; issue 15, item 16).

An interval far from the simulated distribution made both normal CDFs round to 1 and
``log1p(-exp(0))`` fail; a reported 0 divided by zero after the whole run.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from flowsim.cli import main
from flowsim.inference.fit import fit_table, log_error
from flowsim.inference.likelihood import REPORTING_ERROR, covered, log_likelihood, within_tolerance
from flowsim.inference.observations import Observation
from flowsim.timebase import Clock

START = dt.datetime(2022, 9, 2, tzinfo=dt.UTC)
#: One replication: no spread, so the log-scale sd is the reporting error alone.
ONE_REPLICATION = np.array([1000.0])
M = math.log1p(1000.0)
CORPUS = Path(__file__).parent / "bad_inputs"


def figure(value=None, low=None, high=None) -> Observation:
    return Observation(
        "x",
        ("Northland",),
        ("north_gate",),
        "entries",
        START,
        START + dt.timedelta(days=1),
        value,
        low,
        high,
        "test",
        "",
        2,
    )


def interval_at(z_low: float, z_high: float) -> Observation:
    """An interval whose ends lie `z_low` and `z_high` sds from the simulated log-mean."""
    return figure(
        low=math.expm1(M + z_low * REPORTING_ERROR), high=math.expm1(M + z_high * REPORTING_ERROR)
    )


@pytest.mark.parametrize("distance", [10, 40])
def test_far_intervals_on_either_side_are_finite_and_mirror_each_other(distance):
    above = log_likelihood(interval_at(distance, distance + 1), ONE_REPLICATION)
    below = log_likelihood(interval_at(-distance - 1, -distance), ONE_REPLICATION)
    assert math.isfinite(above) and math.isfinite(below)
    assert above == pytest.approx(below, rel=1e-9)
    # Most of the mass of [d, d+1] sds is near d: close to log of the tail beyond d.
    assert above == pytest.approx(norm.logsf(distance), rel=1e-3)
    assert above <= norm.logsf(distance)


def test_ten_sds_away_matches_the_direct_difference():
    """At 10 sds the survival functions are still exact in floating point."""
    expected = math.log(norm.sf(10) - norm.sf(10.5))
    got = log_likelihood(interval_at(10, 10.5), ONE_REPLICATION)
    assert got == pytest.approx(expected, rel=1e-9)
    assert log_likelihood(interval_at(-10.5, -10), ONE_REPLICATION) == pytest.approx(
        expected, rel=1e-9
    )


def test_an_interval_around_the_mean_is_nearly_free():
    assert log_likelihood(interval_at(-40, 40), ONE_REPLICATION) == pytest.approx(0.0, abs=1e-12)


def test_a_zero_width_interval_is_an_exact_figure():
    value = math.expm1(M + 3 * REPORTING_ERROR)
    exact = log_likelihood(figure(value=value), ONE_REPLICATION)
    assert log_likelihood(figure(low=value, high=value), ONE_REPLICATION) == exact
    assert math.isfinite(exact)


def test_a_tiny_interval_tends_to_density_times_width():
    z, width = 12.0, 1e-9
    got = log_likelihood(interval_at(z, z + width), ONE_REPLICATION)
    assert got == pytest.approx(norm.logpdf(z) + math.log(width), rel=1e-6)


def test_zero_is_a_valid_count():
    zero_sim = np.array([0.0, 0.0, 3.0])
    for obs in (figure(value=0.0), figure(low=0.0, high=40.0), figure(high=0.0)):
        assert math.isfinite(log_likelihood(obs, zero_sim))
        assert math.isfinite(log_likelihood(obs, np.array([0.0])))
    assert within_tolerance(figure(value=0.0), 0.0)
    assert not within_tolerance(figure(value=0.0), 1.0)
    assert covered(figure(value=0.0), 0.0, 2.0)
    assert figure(low=0.0, high=40.0).reported == pytest.approx(math.sqrt(41) - 1)
    clock = Clock(START, START + dt.timedelta(days=3))
    table = fit_table([figure(value=0.0)], {"x": zero_sim}, clock)
    assert table.loc[0, "log_error"] == 0.0
    assert log_error(0.0, 3.0) == pytest.approx(math.log(4.0))
    assert log_error(5.0, 0.0) == pytest.approx(-math.log(6.0)), "not log(1e-9 / 5)"
    assert log_error(5.0, 10.0) == pytest.approx(math.log(2.0))
    assert math.isfinite(table.loc[0, "log_likelihood"])


def test_a_bare_bound_kept_is_no_error():
    clock = Clock(START, START + dt.timedelta(days=3))
    sims = {"x": np.array([90.0, 100.0, 110.0])}
    errors = [
        fit_table([obs], sims, clock).loc[0, "log_error"]
        for obs in (figure(high=800.0), figure(low=20.0), figure(high=50.0), figure(low=200.0))
    ]
    assert errors[:2] == [0.0, 0.0]
    assert errors[2] == pytest.approx(math.log(2.0)), "a crossed upper bound: log(100 / 50)"
    assert errors[3] == pytest.approx(-math.log(2.0)), "a crossed lower bound: log(100 / 200)"
    interval = fit_table([figure(low=20.0, high=800.0)], sims, clock).loc[0, "log_error"]
    middle = math.sqrt(20.0 * 800.0)
    assert interval == pytest.approx(math.log(100.0 / middle)), "ranges keep their middle"


def test_validate_with_zero_and_far_figures_runs_through(tmp_path, capsys, monkeypatch):
    header = "id,country,checkpoint,metric,start,end,value,low,high,source,note\n"
    day = "2022-09-02T00:00:00+03:00,2022-09-03T00:00:00+03:00"
    (tmp_path / "obs.csv").write_text(
        header
        + f"none_refused,Southland,,refusals,{day},0,,,test,\n"
        + f"zero_bound,Northland,,turned_back,{day},,0,5,test,\n"
        + f"far_above,Northland,,entries,{day},,1000000000,2000000000,test,\n"
        + f"far_below,Eastland,,entries,{day},,0.5,0.75,test,\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(CORPUS)
    out = tmp_path / "fit"
    code = main(
        [
            *("validate", "_base.yaml", "--observations", str(tmp_path / "obs.csv")),
            *("-n", "1", "-j", "1", "-q", "--out", str(out)),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    assert (out / "fit.csv").is_file()

"""The observation operator, the observations CSV checks, and the likelihood of each bound."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from builders import build, single_checkpoint

import flowsim
from flowsim.errors import ObservationError
from flowsim.inference.likelihood import covered, log_likelihood, within_tolerance
from flowsim.inference.observations import (
    COLUMNS,
    Observation,
    _number,
    load_observations,
    simulate_observation,
)
from flowsim.results import HourlyArrays
from flowsim.scenario.loader import deep_merge
from flowsim.timebase import Clock

UTC = dt.UTC


def two_zones():
    """'gate' in Finland time (UTC+3), 'ridge' in Georgia time (UTC+4)."""
    data = single_checkpoint(
        arrivals_per_hour=5, service_minutes={"dist": "fixed", "value": 1}, lanes=1, days=4
    )
    ridge = {**data["checkpoints"]["gate"], "country": "Hills", "timezone": "Asia/Tbilisi"}
    return build(
        deep_merge(
            data,
            {
                "countries": {"Hills": {}},
                "checkpoints": {"ridge": ridge},
                "demand": {"origins": {"home": {"travel_hours": {"ridge": 1.0}}}},
            },
        )
    )


def hourly_ramp(scenario, replications=2):
    """Hourly arrays where every flow in hour h equals h (+1000 * checkpoint index)."""
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    n, s = clock.n_hours, len(scenario.checkpoints)
    flows = np.zeros((replications, 7, s, n))
    for i in range(s):
        flows[:, :, i, :] = np.arange(n) + 1000 * i
    stocks = np.zeros((replications, 3, s, n + 1))
    stocks[:, 0, :, :] = np.arange(n + 1) * 10.0
    return clock, HourlyArrays(
        checkpoints=tuple(scenario.checkpoints),
        countries=tuple(c.country for c in scenario.checkpoints.values()),
        hour_start_utc=pd.DatetimeIndex(clock.hour_starts_utc()),
        flows=flows,
        wait_person_hours=flows[:, 1] * 2.0,
        car_entries=flows[:, 1] / 2,  # half of those admitted came by car,
        car_wait_person_hours=flows[:, 1] / 2 * 5.0,  # and waited 5 hours
        wait_histogram=np.zeros((replications, s, 1, 61)),
        stocks=stocks,
        origin_flows=np.zeros((replications, 2, 1, n)),
    )


def obs(
    metric="entries",
    start="2022-09-02T10:00:00+04:00",
    end="2022-09-03T10:00:00+04:00",
    checkpoints=("ridge",),
    countries=("Hills",),
    value=1.0,
    low=None,
    high=None,
):
    return Observation(
        "x",
        countries,
        checkpoints,
        metric,
        dt.datetime.fromisoformat(start),
        dt.datetime.fromisoformat(end),
        value,
        low,
        high,
        "",
        "",
        2,
    )


def test_window_sum_across_day_boundary_in_another_timezone():
    scenario = two_zones()
    clock, hourly = hourly_ramp(scenario)
    # Horizon starts 2022-09-01 00:00+03:00 = 2022-08-31 21:00 UTC. 10:00+04:00 on 2 Sep is
    # 06:00 UTC on 2 Sep = hour 33; the 24-hour window covers hours 33..56.
    expected = sum(range(33, 57)) + 1000 * 24
    np.testing.assert_allclose(simulate_observation(obs(), hourly, clock), [expected, expected])


def test_partial_hours_are_weighted_by_overlap():
    scenario = two_zones()
    clock, hourly = hourly_ramp(scenario)
    o = obs(start="2022-09-02T10:30:00+04:00", end="2022-09-02T12:15:00+04:00")
    expected = 0.5 * (33 + 1000) + (34 + 1000) + 0.25 * (35 + 1000)
    np.testing.assert_allclose(simulate_observation(o, hourly, clock), [expected] * 2)


def test_plus_sums_places_and_snapshots_sample_stocks():
    scenario = two_zones()
    clock, hourly = hourly_ramp(scenario)
    both = obs(checkpoints=("gate", "ridge"), countries=("Testland", "Hills"))
    single = [
        simulate_observation(obs(checkpoints=(c,), countries=(k,)), hourly, clock)
        for c, k in (("gate", "Testland"), ("ridge", "Hills"))
    ]
    np.testing.assert_allclose(simulate_observation(both, hourly, clock), single[0] + single[1])
    snap = obs(
        metric="queue_vehicles", start="2022-09-01T01:30:00+03:00", end="2022-09-01T01:30:00+03:00"
    )
    np.testing.assert_allclose(
        simulate_observation(snap, hourly, clock), [15.0, 15.0]
    )  # between 10 and 20


def test_wait_hours_is_person_weighted_over_the_window():
    scenario = two_zones()
    clock, hourly = hourly_ramp(scenario)
    np.testing.assert_allclose(
        simulate_observation(obs(metric="wait_hours"), hourly, clock), [2.0, 2.0]
    )


def test_car_wait_hours_is_the_mean_of_those_admitted_by_car():
    scenario = two_zones()
    clock, hourly = hourly_ramp(scenario)
    np.testing.assert_allclose(
        simulate_observation(obs(metric="car_wait_hours"), hourly, clock), [5.0, 5.0]
    )


def test_window_counts_match_a_real_run():
    scenario = two_zones()
    result = flowsim.run(scenario, replications=2, seed=1, workers=1, progress=False)
    clock = Clock(scenario.horizon.start, scenario.horizon.end)
    day = obs(
        checkpoints=("gate",),
        countries=("Testland",),
        start="2022-09-02T00:00:00+03:00",
        end="2022-09-03T00:00:00+03:00",
    )
    simulated = simulate_observation(day, result.hourly, clock)
    daily = result.by_replication
    reference = daily[
        (daily.checkpoint == "gate")
        & (daily.metric == "entries")
        & (daily.date == dt.date(2022, 9, 2))
    ]["value"].to_numpy()
    np.testing.assert_allclose(simulated, reference)


def write_csv(tmp_path, rows, header=COLUMNS):
    path = tmp_path / "obs.csv"
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    "a",
    "Testland",
    "",
    "entries",
    "2022-09-02T00:00:00+03:00",
    "2022-09-03T00:00:00+03:00",
    "10",
    "",
    "",
    "s",
    "n",
]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({3: "arrivals_total"}, "metric: unknown metric 'arrivals_total'"),
        ({1: "Narnia"}, "country: country 'Narnia' is not in the scenario"),
        ({2: "nowhere"}, "checkpoint: checkpoint 'nowhere' is not in the scenario"),
        ({4: "2022-09-02"}, "start: '2022-09-02' has no UTC offset"),
        ({4: "yesterday"}, "start: expected an ISO 8601 date-time"),
        ({5: "2022-09-01T00:00:00+03:00"}, "end: end is before start"),
        ({6: "ten"}, "value: expected a number, got 'ten'"),
        ({6: "", 7: "20", 8: "10"}, "low: low 20 is above high 10"),
        ({6: ""}, "value: give a value, a low or a high bound"),
        ({3: "queue_km"}, "needs a snapshot"),
    ],
)
def test_malformed_observations_get_one_line_errors(tmp_path, change, fragment):
    row = list(GOOD)
    for index, text in change.items():
        row[index] = text
    path = write_csv(tmp_path, [row])
    with pytest.raises(ObservationError) as err:
        load_observations(path, two_zones())
    message = str(err.value)
    assert fragment in message
    assert message.startswith(f"{path}:2:")
    assert "\n" not in message


def test_missing_column_is_reported(tmp_path):
    path = write_csv(tmp_path, [GOOD[:-1]], header=COLUMNS[:-1])
    with pytest.raises(ObservationError, match="missing column\\(s\\) note"):
        load_observations(path, two_zones())


def test_seed_observations_file_loads_against_the_historical_scenario():
    scenario = flowsim.load_scenario("scenarios/historical_2022.yaml")
    observations = load_observations("calibration/observations.csv", scenario)
    assert len(observations) >= 19
    assert {o.metric for o in observations} >= {"entries", "departures"}


# --- the likelihood -------------------------------------------------------------------


def test_exact_value_likelihood_peaks_at_the_value_and_is_normal_on_log_scale():
    o = obs(value=1000.0)
    near = log_likelihood(o, np.array([1000.0]), 0.1)
    assert near == pytest.approx(-math.log(0.1) - 0.5 * math.log(2 * math.pi))
    two_sigmas = math.expm1(math.log1p(1000.0) + 0.2)
    far = log_likelihood(o, np.array([two_sigmas]), 0.1)
    assert near - far == pytest.approx(2.0, rel=1e-9)


def test_bounds_cost_nothing_when_comfortably_met_and_a_lot_when_violated():
    lower = obs(value=None, low=1000.0)
    assert log_likelihood(lower, np.array([3000.0]), 0.1) > -1e-6
    assert log_likelihood(lower, np.array([500.0]), 0.1) < -20
    upper = obs(value=None, high=1000.0)
    assert log_likelihood(upper, np.array([300.0]), 0.1) > -1e-6
    assert log_likelihood(upper, np.array([2000.0]), 0.1) < -20
    interval = obs(value=None, low=900.0, high=1100.0)
    inside = log_likelihood(interval, np.array([1000.0]), 0.05)
    assert inside > log_likelihood(interval, np.array([1500.0]), 0.05) + 10
    assert inside == pytest.approx(math.log(0.9545), abs=0.1)  # +-~2 sigma of the interval inside


def test_simulation_spread_widens_the_likelihood():
    o = obs(value=1000.0)
    tight = log_likelihood(o, np.array([1300.0, 1300.0]), 0.1)
    spread = log_likelihood(o, np.array([1000.0, 1690.0]), 0.1)
    assert spread > tight


def test_a_given_model_variance_replaces_the_spread_of_the_replications():
    o = obs(value=1000.0)
    sims = np.array([1000.0, 1690.0])
    centre = math.expm1(np.log1p(sims).mean())
    assert log_likelihood(o, sims, 0.1, model_var=0.0) == pytest.approx(
        log_likelihood(o, np.array([centre]), 0.1), rel=1e-12
    )
    assert log_likelihood(o, sims, 0.1, model_var=0.0) < log_likelihood(o, sims, 0.1)
    assert log_likelihood(o, sims, 0.1, model_var=0.03) == pytest.approx(
        log_likelihood(o, np.array([centre]), math.sqrt(0.01 + 0.03)), rel=1e-12
    )


def test_coverage_and_tolerance_rules():
    assert covered(obs(value=10.0), 9.0, 11.0) and not covered(obs(value=12.0), 9.0, 11.0)
    assert covered(obs(value=None, low=10.0), 5.0, 10.5)
    assert not covered(obs(value=None, high=4.0), 5.0, 10.0)
    assert within_tolerance(obs(value=100.0), 114.0) and not within_tolerance(
        obs(value=100.0), 116.0
    )
    assert within_tolerance(obs(value=None, low=90.0, high=100.0), 95.0)


def test_fit_breakdown_summarises_each_group_of_figures():
    import pandas as pd

    from flowsim.inference.fit import breakdown_lines, fit_breakdown

    table = pd.DataFrame(
        {
            "id": ["S0_a", "S4_b", "R-c", "R-d"],
            "metric": ["entries", "departures", "queue_km", "refusals"],
            "status": ["ok", "ok", "ok", "not_modelled"],
            "log_error": [0.1, -0.3, 0.5, float("nan")],
            "covered": [True, False, True, float("nan")],
            "covered_pred": [True, True, True, float("nan")],
            "within_tolerance": [True, False, False, float("nan")],
            "log_likelihood": [-1.0, -2.0, -4.0, float("nan")],
        }
    )
    rows = fit_breakdown(table).set_index("group")
    assert rows.loc["all", "figures"] == 3  # the unmodelled figure is left out
    assert rows.loc["seed reports (S...)", "median_abs_log_error"] == pytest.approx(0.2)
    assert rows.loc["more reports (R-...)", "max_abs_log_error"] == pytest.approx(0.5)
    assert rows.loc["all", "log_likelihood"] == pytest.approx(-7.0)
    assert rows.loc["all", "coverage"] == pytest.approx(2 / 3)
    assert rows.loc["all", "coverage_pred"] == 1.0
    assert "refusals" not in rows.index  # no modelled refusal figure
    assert len(breakdown_lines(fit_breakdown(table))) == 1 + len(rows)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8,314", 8314.0),
        ("1,234,567.5", 1234567.5),
        ("1_000", 1000.0),
        ("8.314", 8.314),
        ("0", 0.0),
    ],
)
def test_a_comma_is_read_only_as_a_thousands_separator(text, value):
    assert _number(text, "value", "f.csv", 2) == value


@pytest.mark.parametrize("text", ["2,5", "1,2,3", "12,34", "1.000,5", "1000,000", "1,000_000"])
def test_an_ambiguous_comma_is_refused(text):
    with pytest.raises(ObservationError, match="is ambiguous"):
        _number(text, "value", "f.csv", 2)

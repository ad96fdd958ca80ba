"""Fuzzing the input readers: any mutation of a valid file loads or raises our error, nothing else.

Hypothesis mutates `tests/scenarios/small.yaml` (and a valid observations file): values
replaced by other types, negatives, NaN, huge numbers; keys deleted or added; garbage
lines inserted; the text truncated; bytes flipped; ``--set`` overrides made of junk. Each
load must return a valid `Scenario` (whose warnings can be computed) or raise a
`FlowsimError` with a one-line message naming the file, within a few seconds.
Derandomized and without a database, so CI sees the same examples every time.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
from collections.abc import Iterator
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsim.checks import check_scenario
from flowsim.errors import FlowsimError
from flowsim.inference.observations import COLUMNS, load_observations
from flowsim.scenario import Scenario, load_scenario

VALID = (Path(__file__).parent / "scenarios" / "small.yaml").read_text(encoding="utf-8")
VALID_DATA = yaml.safe_load(VALID)
SCENARIO = load_scenario(Path(__file__).parent / "scenarios" / "small.yaml")
OBSERVATIONS = (
    ",".join(COLUMNS)
    + "\n"
    + "\n".join(
        [
            "a,Northland,,entries,2022-09-02T00:00:00+03:00,2022-09-03T00:00:00+03:00,100,,,test,",
            (
                "b,Southland+Eastland,,refusals,2022-09-02T10:00:00+04:00,"
                '2022-09-04T10:00:00+04:00,,50,80,test,"a, b"'
            ),
            "c,Northland,north_gate,queue_km,2022-09-05T12:00:00+03:00,2022-09-05T12:00:00+03:00,3.5,,,test,",
        ]
    )
    + "\n"
)
FUZZ = settings(
    max_examples=120,
    deadline=3000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Seconds after which a single load counts as a hang.
HANG_SECONDS = 10

#: Values that stress the schema: wrong types, signs, sizes, special floats, YAML oddities.
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(
        [
            "$hours_weight",
            "$nope",
            "2022-09-05T00:00:00",
            "2022-13-01T00:00:00+03:00",
            "-1",
            ".nan",
            "2022-12-01T00:00:00+03:00",
            "2022-08-01T00:00:00+03:00",
            "10" * 30,
        ]
    ),
)
#: Lines that may break the YAML text when inserted anywhere.
GARBAGE = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "- x",
            "  : :",
            "{",
            "]",
            "&a [*a]",
            "<<: {a: 1}",
            "!!python/object/apply:os.system [ls]",
            "\t- tab",
            "key: value: other",
            "'unclosed",
            "%YAML 1.1",
            "---",
            "...",
            "? complex key",
            "no: 1",
            "1: 2",
            "x: !!binary aGVsbG8=",
            "x: !!set {a, b}",
            "x: &b " + "[*b, " * 3,
        ]
    ),
)


@contextlib.contextmanager
def _no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Fail instead of waiting forever (SIGALRM: POSIX, main thread)."""

    def alarm(signum, frame):
        raise AssertionError(f"loading took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _paths(node, prefix=()):
    """Every path to a value in a nested mapping/list."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _get(data, path):
    for key in path:
        data = data[key]
    return data


PATHS = [p for p in _paths(VALID_DATA) if p]
NUMBER_PATHS = [p for p in PATHS if type(_get(VALID_DATA, p)) in (int, float)]
MAPPING_PATHS = [()] + [p for p in PATHS if isinstance(_get(VALID_DATA, p), dict)]


def _set(data, path, value, delete=False):
    node = _get(data, path[:-1])
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _loads_or_our_error(tmp_path, text: str | bytes, overrides=()) -> Scenario | None:
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    try:
        with _no_hang():
            scenario, warnings = check_scenario(path, overrides)
    except FlowsimError as err:
        message = str(err)
        assert "\n" not in message and "Traceback" not in message
        assert "fuzzed.yaml" in message or message.startswith("--set"), message
        return None
    assert isinstance(scenario, Scenario)
    assert all("\n" not in w for w in warnings)
    return scenario


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@FUZZ
@given(path=st.sampled_from(PATHS), value=ODD_VALUES, delete=st.booleans())
def test_a_changed_or_deleted_value(tmp_path, path, value, delete):
    data = copy.deepcopy(VALID_DATA)
    _set(data, path, value, delete=delete)
    _loads_or_our_error(tmp_path, _dump(data))


@FUZZ
@given(
    path=st.sampled_from(NUMBER_PATHS),
    how=st.sampled_from(
        ["negate", "string", "nan", "inf", "-inf", "zero", "huge", "tiny", "float"]
    ),
)
def test_a_number_swapped_for_a_string_negative_or_special_float(tmp_path, path, how):
    data = copy.deepcopy(VALID_DATA)
    x = _get(data, path)
    swapped = {
        "negate": -x,
        "string": str(x),
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "zero": 0,
        "huge": 10**400,
        "tiny": 1e-320,
        "float": x + 0.5,
    }[how]
    _set(data, path, swapped)
    scenario = _loads_or_our_error(tmp_path, _dump(data))
    if (
        how in ("nan", "inf", "-inf") and scenario is not None
    ):  # a special float is never accepted silently
        assert path[0] in ("description", "name")


@FUZZ
@given(where=st.sampled_from(MAPPING_PATHS), key=st.text(max_size=12), value=ODD_VALUES)
def test_an_inserted_key(tmp_path, where, key, value):
    data = copy.deepcopy(VALID_DATA)
    _get(data, where)[key] = value
    _loads_or_our_error(tmp_path, _dump(data))


@FUZZ
@given(line=st.integers(0, VALID.count("\n")), garbage=GARBAGE, indent=st.integers(0, 8))
def test_garbage_inserted_at_a_line(tmp_path, line, garbage, indent):
    lines = VALID.splitlines()
    lines.insert(line, " " * indent + garbage)
    _loads_or_our_error(tmp_path, "\n".join(lines) + "\n")


@FUZZ
@given(cut=st.integers(0, len(VALID)), junk=st.text(max_size=20))
def test_truncated_text_with_junk(tmp_path, cut, junk):
    _loads_or_our_error(tmp_path, VALID[:cut] + junk)


@FUZZ
@given(
    positions=st.lists(st.integers(0, len(VALID.encode()) - 1), min_size=1, max_size=4),
    byte=st.integers(0, 255),
)
def test_flipped_bytes(tmp_path, positions, byte):
    raw = bytearray(VALID.encode())
    for p in positions:
        raw[p] = byte
    _loads_or_our_error(tmp_path, bytes(raw))


@FUZZ
@given(
    assignments=st.lists(
        st.one_of(
            st.text(max_size=25),
            st.builds(lambda p, v: f"{'.'.join(map(str, p))}={v}", st.sampled_from(PATHS), GARBAGE),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_junk_overrides(tmp_path, assignments):
    _loads_or_our_error(tmp_path, VALID, assignments)


@FUZZ
@given(
    cut=st.integers(0, len(OBSERVATIONS)),
    junk=st.text(max_size=15),
    position=st.integers(0, len(OBSERVATIONS)),
)
def test_mangled_observations(tmp_path, cut, junk, position):
    text = (
        OBSERVATIONS[:position] + junk + OBSERVATIONS[position:cut]
        if position < cut
        else OBSERVATIONS[:cut] + junk
    )
    path = tmp_path / "fuzzed.csv"
    path.write_text(text, encoding="utf-8")
    try:
        with _no_hang():
            load_observations(path, SCENARIO)
    except FlowsimError as err:
        assert "\n" not in str(err) and str(err).startswith(str(path))

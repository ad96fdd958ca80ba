"""Fuzzing the scenario loader: any mutation of a valid file loads or raises our error, nothing else."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsim.errors import FlowsimError
from flowsim.scenario import load_scenario

VALID = (Path(__file__).parent / "scenarios" / "small.yaml").read_text(encoding="utf-8")
VALID_DATA = yaml.safe_load(VALID)
FUZZ = settings(max_examples=150, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: Values that stress the schema: wrong types, signs, sizes, special floats, YAML oddities.
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["$hours_weight", "$nope", "2022-09-05T00:00:00", "2022-13-01T00:00:00+03:00", "-1", ".nan"]),
)


def _paths(node, prefix=()):
    """Every (path) to a value in a nested mapping/list."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


PATHS = [p for p in _paths(VALID_DATA) if p]


def _set(data, path, value, delete=False):
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def _loads_or_our_error(tmp_path, text: str | bytes) -> None:
    path = tmp_path / "fuzzed.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    try:
        load_scenario(path)
    except FlowsimError as err:
        message = str(err)
        assert "\n" not in message and "fuzzed.yaml" in message
        assert "Traceback" not in message


@FUZZ
@given(path=st.sampled_from(PATHS), value=ODD_VALUES, delete=st.booleans())
def test_a_changed_or_deleted_value(tmp_path, path, value, delete):
    import copy

    data = copy.deepcopy(VALID_DATA)
    _set(data, path, value, delete=delete)
    _loads_or_our_error(tmp_path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@FUZZ
@given(cut=st.integers(0, len(VALID)), junk=st.text(max_size=20))
def test_truncated_text_with_junk(tmp_path, cut, junk):
    _loads_or_our_error(tmp_path, VALID[:cut] + junk)


@FUZZ
@given(positions=st.lists(st.integers(0, len(VALID.encode()) - 1), min_size=1, max_size=4),
       byte=st.integers(0, 255))
def test_flipped_bytes(tmp_path, positions, byte):
    raw = bytearray(VALID.encode())
    for p in positions:
        raw[p] = byte
    _loads_or_our_error(tmp_path, bytes(raw))

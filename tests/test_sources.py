"""docs/sources.md documents every source id that the scenarios and the observations cite.

The scenarios cite rows of the project's fact sheet by id (P26, LC3, FB10, X4, ...) in
their `source:` fields, notes, descriptions and comments; calibration/observations.csv
names each reported figure by its `id` and cites fact-sheet rows in its notes ("FACTS
M1, M2"). Each of these ids must have an HTML anchor `<a id="p26"></a>` (lower case) in
docs/sources.md, so that `docs/sources.md#p26` opens its row, and no anchor may be
defined twice.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "sources.md"
SCENARIOS = ROOT / "scenarios"
OBSERVATIONS = ROOT / "calibration" / "observations.csv"

# The fact sheet's id groups. Two-letter prefixes first, so that FB10 is read as FB + 10 and
# not as F + B10. Case-sensitive, and no letter, digit or underscore on either side, so that
# timestamps (T00), parameter names (surge_day1), UTC offsets and road names (A-161, E18)
# never match.
PREFIXES = ("FB", "LC", "NB", "P", "X", "F", "G", "K", "M", "N", "B", "A")
_PREFIX = "|".join(PREFIXES)
FACT_ID = re.compile(rf"(?<!\w)(?:{_PREFIX})\d{{1,3}}(?!\w)")
# A range such as "X1–X8" or "LC1-LC11" cites every row in between.
FACT_RANGE = re.compile(rf"(?<!\w)({_PREFIX})(\d{{1,3}})\s*[–-]\s*\1(\d{{1,3}})(?!\w)")
# In the observations' notes a fact-sheet id follows the word FACTS: "FACTS M1, M2".
_ID_LIST = rf"(?:{_PREFIX})\d{{1,3}}(?:(?:\s*,\s*|\s*/\s*|\s+and\s+)(?:{_PREFIX})\d{{1,3}})*"
FACTS_CITATION = re.compile(rf"\bFACTS\s+({_ID_LIST})(?!\w)")

ANCHOR = re.compile(r'<a id="([^"]*)"></a>')
ANCHORED_ROW_ID = re.compile(r'^\|\s*<a id="([^"]*)"></a>([^\s|]+)')


def fact_ids(text: str) -> set[str]:
    """Every fact-sheet id in a piece of free text, ranges expanded."""
    ids = set(FACT_ID.findall(text))
    for prefix, first, last in FACT_RANGE.findall(text):
        ids.update(f"{prefix}{n}" for n in range(int(first), int(last) + 1))
    return ids


def strings_in(node) -> list[str]:
    """All string scalars (keys and values) of a loaded YAML document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return []


def comments_in(text: str) -> list[str]:
    """The comments of a YAML file: text after a '#' that is not part of any token."""
    lines = text.splitlines()
    end_of_tokens = [0] * (len(lines) + 1)  # per line: the first column after every token
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        start, end = token.start_mark, token.end_mark
        for line in range(start.line, min(end.line, len(lines) - 1) + 1):
            reach = end.column if line == end.line else len(lines[line])
            end_of_tokens[line] = max(end_of_tokens[line], reach)
    comments = []
    for number, line in enumerate(lines):
        for match in re.finditer("#", line):
            at = match.start()
            if at >= end_of_tokens[number] and (at == 0 or line[at - 1].isspace()):
                comments.append(line[at + 1 :])
                break
    return comments


def cited_in_scenarios() -> dict[str, set[str]]:
    """Fact-sheet id -> the scenario files citing it."""
    cited: dict[str, set[str]] = {}
    files = sorted(SCENARIOS.rglob("*.yaml"))
    assert files, f"no scenario files under {SCENARIOS}"
    for path in files:
        text = path.read_text(encoding="utf-8")
        free_text = strings_in(yaml.safe_load(text)) + comments_in(text)
        for fact in fact_ids("\n".join(free_text)):
            cited.setdefault(fact, set()).add(str(path.relative_to(ROOT)))
    return cited


def observation_rows() -> list[dict[str, str]]:
    with OBSERVATIONS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def anchors() -> list[str]:
    return ANCHOR.findall(SOURCES.read_text(encoding="utf-8"))


def heading_slugs(text: str) -> list[str]:
    """The anchors GitHub derives from the headings (roughly: lower case, punctuation dropped)."""
    slugs = []
    for line in text.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            title = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            slugs.append(title.replace(" ", "-"))
    return slugs


def test_the_extractors_find_ids_and_nothing_else():
    text = 'source: "LC1–LC11; X1-X3", at: 2022-09-21T09:00:00+03:00, A-161, E18, surge_day1'
    assert fact_ids(text) == {f"LC{n}" for n in range(1, 12)} | {"X1", "X2", "X3"}
    assert fact_ids("FB10 (P26), UTC+3, T00, x4, P26a") == {"FB10", "P26"}
    yaml_text = 'a: "# not a comment P1"  # a comment citing P2\n# P3\nb: >\n  text # P4\n'
    assert fact_ids("\n".join(comments_in(yaml_text))) == {"P2", "P3"}
    note = "(FACTS M1, M2); FACTS LC10 and FACTS P26 and P27; not P28; S4_fi_2022-09-25"
    cited = {i for m in FACTS_CITATION.findall(note) for i in fact_ids(m)}
    assert cited == {"M1", "M2", "LC10", "P26", "P27"}


def test_every_id_cited_in_the_scenarios_is_documented():
    cited = cited_in_scenarios()
    assert len(cited) > 20, f"too few ids found in the scenarios ({sorted(cited)}): pattern broken?"
    documented = set(anchors())
    missing = {
        fact: sorted(files) for fact, files in cited.items() if fact.lower() not in documented
    }
    assert not missing, f"ids cited in scenarios but without an anchor in {SOURCES.name}: {missing}"


def test_every_observation_is_documented():
    rows = observation_rows()
    assert rows, f"{OBSERVATIONS} has no rows"
    documented = set(anchors())
    missing = [row["id"] for row in rows if row["id"].lower() not in documented]
    assert not missing, f"observation ids without an anchor in {SOURCES.name}: {missing}"


def test_every_fact_cited_by_an_observation_is_documented():
    documented = set(anchors())
    missing = {}
    for row in observation_rows():
        text = f"{row.get('source') or ''}\n{row.get('note') or ''}"
        for match in FACTS_CITATION.findall(text):
            for fact in fact_ids(match):
                if fact.lower() not in documented:
                    missing.setdefault(fact, []).append(row["id"])
    assert not missing, f"fact ids cited in {OBSERVATIONS.name} without an anchor: {missing}"


def test_anchors_are_unique_and_lower_case():
    found = anchors()
    repeated = sorted({a for a in found if found.count(a) > 1})
    assert not repeated, f"anchors defined more than once in {SOURCES.name}: {repeated}"
    clashing = sorted(set(found) & set(heading_slugs(SOURCES.read_text(encoding="utf-8"))))
    assert not clashing, f"anchors that repeat a heading's anchor: {clashing}"
    assert all(a and a == a.lower() and " " not in a for a in found), found


def test_each_row_anchor_matches_the_id_it_shows():
    lines = SOURCES.read_text(encoding="utf-8").splitlines()
    rows = [ANCHORED_ROW_ID.match(line) for line in lines]
    checked = 0
    for match in filter(None, rows):
        anchor, shown = match.groups()
        if FACT_ID.fullmatch(shown) or re.match(r"(S\d+_|R-)", shown):
            line = match.string
            assert anchor == shown.lower(), line
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            assert len(cells) == 4 and all(cells), f"row {shown} needs 4 non-empty cells: {line}"
            checked += 1
    assert checked > 100, checked

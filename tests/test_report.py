"""The HTML report: what a reader meets (contents, headings, numbers, sources, fit tables)."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_provenance import SMALL, observations_csv

from flowsim.cli import main
from flowsim.report import build_report
from flowsim.report.elements import Page, number
from flowsim.report.page import counterfactual_title, reported


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (194000.0, False, "194,000"),
        (1.94e5, False, "194,000"),
        (8314.0, False, "8,314"),
        (14.8831, False, "14.9"),
        (0.1963, False, "0.196"),
        (12.0, False, "12"),
        (67700.0, True, "+67,700"),
        (-30000.4, True, "-30,000"),
        (float("nan"), False, ""),
    ],
)
def test_numbers_read_as_people_write_them(value, signed, text):
    assert number(value, signed) == text


def test_a_reported_figure_reads_as_its_bounds_say():
    row = pd.Series({"value": float("nan"), "low": 8000.0, "high": float("nan")})
    assert reported(row) == "over 8,000"
    assert reported(row.replace({8000.0: 35000.0}).set_axis(row.index)) == "over 35,000"
    assert reported(pd.Series({"value": 9642.0, "low": None, "high": None})) == "9,642"
    assert reported(pd.Series({"value": None, "low": 35000.0, "high": 42000.0})) == (
        "35,000 to 42,000"
    )


def test_a_counterfactual_is_titled_in_words():
    assert counterfactual_title("no_finland_ban", ["Finland", "Georgia"]) == "no Finland ban"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    obs = observations_csv(folder)
    common = [str(SMALL), "--observations", str(obs), "-n", "2", "-j", "1", "-q"]
    assert (
        main(
            ["validate", *common, "--set", "policies.north_ban=null", "--out", str(folder / "fit")]
        )
        == 0
    )
    assert main(["validate", *common, "--out", str(folder / "again")]) == 0
    return build_report([folder / "fit", folder / "again"], sources="../docs/sources.md")


def test_a_calibration_folder_with_the_short_fit_table_still_reads(tmp_path):
    from flowsim.inference.fit import FIT_COLUMNS

    obs = observations_csv(tmp_path)
    argv = ["validate", str(SMALL), "--observations", str(obs), "-n", "1", "-j", "1", "-q"]
    assert main([*argv, "--out", str(tmp_path / "cal" / "validation")]) == 0
    fit = pd.read_csv(tmp_path / "cal" / "validation" / "fit.csv")
    fit[FIT_COLUMNS].to_csv(tmp_path / "cal" / "fit.csv", index=False)
    page = build_report([tmp_path / "cal"])
    assert "Reported figures against small (1 replication, cal)" in page


def test_the_page_has_a_table_of_contents_linking_to_every_section(page):
    contents = re.search(r"<nav><h2>Contents</h2><ul>(.*?)</ul></nav>", page).group(1)
    links = re.findall(r"href='#([^']+)'>([^<]+)<", contents)
    headings = re.findall(r"<h([23]) id='([^']+)'>([^<]+)</h\1>", page)
    assert [(a, t) for a, t in links] == [(a, t) for _, a, t in headings]
    assert len(links) >= 4 and len(set(a for a, _ in links)) == len(links)


def test_headings_say_what_the_section_is_and_which_run_each_fit_table_is(page):
    headings = re.findall(r"<h[23] id='[^']+'>([^<]+)<", page)
    assert headings[0] == "Fit to reported figures: small with policies.north_ban=null"
    fit_tables = [h for h in headings if h.startswith("Reported figures against")]
    assert fit_tables == [
        "Reported figures against small with policies.north_ban=null (2 replications, fit)",
        "Reported figures against small (2 replications, again)",
    ]
    assert "more than one fit table: each comes from its own run" in page


def test_the_fit_table_shows_the_reported_words_and_source(page):
    assert "\u201cabout 1,000\u201d (test)" in page
    assert "<td class='text'>1,000</td>" in page  # the reported value, formatted


def test_numbers_are_never_in_scientific_notation(page):
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    assert cells and not [c for c in cells if re.search(r"\de[+-]\d", c)]


def test_an_override_that_removes_a_policy_is_said_beside_the_description(page):
    assert "It may describe policies the overrides removed: north_ban." in page
    # the policies in force are listed from the resolved scenario, without north_ban
    first = page.replace("<wbr>", "").split("</nav>")[1].split("<h3 id='s3-")[0]
    assert "south_car_stop</td>" in first and "north_ban</td>" not in first


def test_source_ids_link_to_their_anchor_in_the_sources_list():

    text = Page("../docs/sources.md").text("Finland's ban (P26) and lanes from LC3, LC7; S0_fi")
    assert "<a href='../docs/sources.md#p26'>P26</a>" in text
    assert "<a href='../docs/sources.md#lc3'>LC3</a>" in text
    assert "S0_" in text and "#s0" not in text  # an observation id is not a source id

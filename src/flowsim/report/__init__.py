"""One self-contained HTML page from result folders: what was run, the fit, the counterfactuals.

Figures are embedded as base64 PNG, styles are inline: the page opens with no network.
It reads only what the commands wrote (never re-runs a simulation). `checks` refuses a
folder the page cannot be made from, `elements` holds the building blocks (numbers, linked
text, tables, contents) and `page` the sections.
"""

from flowsim.report.checks import check_result_folder
from flowsim.report.elements import PAGE_START, SOURCES
from flowsim.report.page import build_report

__all__ = ["PAGE_START", "SOURCES", "build_report", "check_result_folder"]

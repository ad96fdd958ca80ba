"""pyproject.toml: the license as an SPDX expression, with a setuptools that reads it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_string_and_setuptools_is_new_enough_for_it():
    # The table form (license = {text = ...}) makes setuptools warn on every install.
    assert PYPROJECT["project"]["license"] == "MIT"
    requires = " ".join(PYPROJECT["build-system"]["requires"])
    minimum = re.search(r"setuptools>=(\d+)", requires)
    assert minimum and int(minimum.group(1)) >= 77  # PEP 639 license expressions

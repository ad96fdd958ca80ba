"""Scenario description: the typed schema and the file loader."""

from flowsim.scenario.loader import dump_resolved, load_scenario, scenario_from_mapping
from flowsim.scenario.schema import Scenario, json_schema

__all__ = ["Scenario", "dump_resolved", "json_schema", "load_scenario", "scenario_from_mapping"]

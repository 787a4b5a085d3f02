"""Scenario files: the model, the strict loader (file:line errors) and placeholders."""

from harness.scenario.loader import discover, load_scenario, load_scenarios, looks_like_scenario
from harness.scenario.model import BackendSpec, ClientSpec, Scenario, Step, build_profile
from harness.scenario.source import ScenarioError

__all__ = [
    "BackendSpec",
    "ClientSpec",
    "Scenario",
    "ScenarioError",
    "Step",
    "build_profile",
    "discover",
    "load_scenario",
    "load_scenarios",
    "looks_like_scenario",
]

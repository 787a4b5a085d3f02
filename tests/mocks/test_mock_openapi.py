"""openapi.yaml describes every route every backend serves, with its methods."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
import yaml

from mock_backends import start_backend

DOCUMENT = yaml.safe_load(files("mock_backends").joinpath("openapi.yaml").read_text("utf-8"))


def documented_methods(rule: str) -> set[str]:
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
    if path == "/":  # the catch-all routes also answer at the root
        path = "/{path}"
    operations = DOCUMENT["paths"].get(path, {})
    return {method.upper() for method in operations if method != "parameters"}


@pytest.mark.parametrize("kind", ["roster", "muc_auth", "rest_callback"])
def test_every_route_and_method_is_documented(kind):
    with start_backend(kind) as backend:
        for rule in backend.app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            served = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
            if rule.endpoint.startswith("probe"):
                served = {"OPTIONS"}
            missing = served - documented_methods(rule.rule)
            assert not missing, f"{kind}: {rule.rule} {sorted(missing)} not in openapi.yaml"


def test_every_reference_resolves():
    text = files("mock_backends").joinpath("openapi.yaml").read_text("utf-8")
    for section, name in re.findall(r'"#/components/(\w+)/(\w+)"', text):
        assert name in DOCUMENT["components"][section], f"dangling $ref to {section}/{name}"

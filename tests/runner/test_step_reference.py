"""The step vocabulary lives in harness/scenario/steps; the docs table and the JSON Schema
are written from it, and must not drift (rewrite them with
`python -m harness.scenario.steps.reference`)."""

from __future__ import annotations

import json
import re

import jsonschema

from harness.scenario.steps import BY_NAME, STEP_KINDS
from harness.scenario.steps.reference import DOCS, SCHEMA, rendered_docs, rendered_schema

REWRITE = "run `python -m harness.scenario.steps.reference` and commit the result"


def test_the_docs_table_is_the_registry_s():
    text = DOCS.read_text()
    assert rendered_docs(text) == text, REWRITE


def test_the_schema_s_actions_are_the_registry_s():
    schema = json.loads(SCHEMA.read_text())
    assert rendered_schema(json.loads(SCHEMA.read_text())) == schema, REWRITE


def test_every_written_example_of_each_step_is_accepted_by_the_schema():
    # The schema is what editors check files with: it must accept every step the loader
    # accepts. One written example per kind, as a user would write it.
    examples = {
        "connect": "alice connects",
        "disconnect": "alice disconnects",
        "send": {"alice sends": "<message/>"},
        "receive": {"alice receives": "<message/>", "timeout": 1},
        "receive_nothing": "alice receives nothing",
        "http": {"http POST /rest": {"json": {}}, "expect": {"status": 200}},
        "backend_set_roster": {"app sets john": {}},
        "backend_befriend": {"app befriends": ["a", "b"]},
        "backend_decide": {"auth decides": {"allowed": True}},
        "backend_reply": {"hook replies": {"match": {}}},
        "backend_answers": {"auth answers": {"status": 500}},
        "backend_fault": {"auth fault": {"drop": True}},
        "backend_received": {"auth received": {"count": 1}},
        "backend_clear_journal": "auth clears journal",
        "log_contains": {"log contains": {"text": "x"}},
        "wait": {"wait": 0.1},
    }
    assert set(examples) == set(BY_NAME), "give an example for every step kind"
    schema = json.loads(SCHEMA.read_text())
    for kind, step in examples.items():
        document = {"name": kind, "steps": [step]}
        jsonschema.validate(document, schema)


def test_each_kind_says_how_it_is_written_and_what_it_does():
    for kind in STEP_KINDS:
        assert kind.usage and kind.meaning, kind.name
        re.compile(kind.pattern)

"""-k expressions."""

from __future__ import annotations

import pytest

from harness.runner.select import KeywordError, compile_keywords


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("roster", True),
        ("ROSTER", True),
        ("muc", False),
        ("roster and push", True),
        ("roster and not push", False),
        ("muc or push", True),
        ("not (muc or core)", False),
        ("(muc or roster) and refresh", True),
    ],
)
def test_keyword_expressions(expression, expected):
    texts = ["refresh pushes a contact", "scenarios/http_roster_admin/refresh.yaml", "core"]
    assert compile_keywords(expression)(texts) is expected


@pytest.mark.parametrize("expression", ["", "and", "roster and", "(roster", "roster )"])
def test_bad_expressions_are_refused(expression):
    with pytest.raises(KeywordError):
        compile_keywords(expression)

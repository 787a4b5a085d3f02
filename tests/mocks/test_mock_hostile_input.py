"""What the fuzzer found in the mocks: JSON nested deeper than Python's recursion limit is
bad input (400), never a failure of the mock (500)."""

from __future__ import annotations

import pytest
import requests

from mock_backends import start_backend

DEEP = "[" * 20000 + "]" * 20000


@pytest.mark.parametrize(
    "kind, method, path",
    [
        ("roster", "PATCH", "/_mock/settings"),
        ("muc_auth", "PUT", "/_mock/authorization"),
        ("rest_callback", "POST", "/_mock/rules"),
        ("rest_callback", "POST", "/stanzas"),
    ],
)
def test_deeply_nested_json_is_bad_input(kind, method, path):
    with start_backend(kind) as backend:
        response = requests.request(
            method,
            backend.url + path,
            data=DEEP,
            timeout=10,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert backend.handler_errors() == []
        if path == "/stanzas":
            assert backend.journal()[-1]["json"] is None

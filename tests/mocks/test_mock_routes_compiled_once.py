"""Backends of one kind share the URL map their routes compile to (compiling it was a
third of a short scenario's time), yet each answers from its own state, and a roster
mock whose path differs gets a map of its own."""

from __future__ import annotations

import requests

from mock_backends import start_backend


def test_two_rosters_share_a_map_and_answer_each_from_its_own_state():
    with start_backend("roster", {"rosters": {"john": {}}}) as one:
        with start_backend("roster", {"rosters": {"kate": {}}}) as two:
            assert one.app.url_map is two.app.url_map
            assert requests.get(f"{one.url}/contacts/john", timeout=5).status_code == 200
            assert requests.get(f"{two.url}/_mock/rosters", timeout=5).json() == {"kate": {}}
            assert requests.get(f"{one.url}/_mock/rosters", timeout=5).json() == {"john": {}}


def test_a_roster_with_its_own_path_gets_its_own_map_and_leaves_the_others_alone():
    with start_backend("roster", {"rosters": {"john": {}}}) as plain:
        with start_backend("roster", {"path": "/api/users/%s", "rosters": {"john": {}}}) as own:
            assert own.app.url_map is not plain.app.url_map
            assert requests.get(f"{own.url}/api/users/john", timeout=5).status_code == 200
            assert requests.get(f"{plain.url}/api/users/john", timeout=5).status_code != 200
            assert requests.get(f"{plain.url}/contacts/john", timeout=5).status_code == 200

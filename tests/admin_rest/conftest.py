"""Real Prosody servers for the mod_admin_rest tests, on Prosody 0.12 and 13.

Every test that takes `start_server` or `servers` runs once per Prosody version (the
`prosody_version` parameter): Debian's 0.12 from PATH and 13 from the harness' cache
(fetched by `python3 -m harness.prosody_install 13`; the 13 runs are skipped without it).
The fixtures live in admin_rest_support.py, shared with tests/groups_internal.
"""

from admin_rest_support import modules_with, prosody_version, servers, start_server  # noqa: F401

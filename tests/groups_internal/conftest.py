"""mod_groups_internal on real Prosody 0.12 and 13 with the fixtures of tests/admin_rest
(shared helpers in tests/admin_rest/admin_rest_support.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "admin_rest"))

from admin_rest_support import modules_with, prosody_version, servers, start_server  # noqa: E402, F401

"""Contract checks of a user's own web service against the protocol our modules implement:
`prosody-harness check roster|muc-auth|webhook URL` (see harness/commands/check.py).

One job per file: options (what to check), http_client (requests as the modules make them),
tls_check (certificates as Prosody judges them), common (timing, redirects, transport
failures), roster / roster_shape, muc_auth, webhook / webhook_stanzas / webhook_replies /
stanza_schema (the probes of each kind and what the module makes of the answers), findings
(the model and the exit status), report (terminal and JSON), runner (one check end to end)."""

from harness.contract.findings import CheckReport, Finding, Severity
from harness.contract.options import KINDS, CheckOptions, UsageError
from harness.contract.runner import run_check

__all__ = ["KINDS", "CheckOptions", "CheckReport", "Finding", "Severity", "UsageError", "run_check"]

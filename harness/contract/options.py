"""What to check and how: the kinds of service, the module behind each, and the options."""

from __future__ import annotations

from dataclasses import dataclass, field

ROSTER, MUC_AUTH, WEBHOOK = "roster", "muc-auth", "webhook"
KINDS = (ROSTER, MUC_AUTH, WEBHOOK)

#: The module that calls each kind of service, and its timeout option with the default.
MODULES = {
    ROSTER: ("mod_http_roster_admin", "http_roster_timeout", 5.0),
    MUC_AUTH: ("mod_muc_http_auth", "muc_http_auth_timeout", 5.0),
    WEBHOOK: ("mod_rest", "rest_callback_timeout", 10.0),
}


class UsageError(ValueError):
    """Options that cannot make a check (exit status 2)."""


@dataclass
class CheckOptions:
    kind: str
    url: str
    timeout: float | None = None  # None: the module's default
    headers: dict[str, str] = field(default_factory=dict)
    insecure: bool = False
    ca_file: str | None = None
    strict: bool = False
    # roster: a username the app has a roster for; muc-auth: a user's bare JID
    user: str | None = None
    domain: str | None = None  # roster: Prosody's VirtualHost
    room: str | None = None  # muc-auth
    nickname: str | None = None  # muc-auth
    allow_writes: bool = False  # webhook
    content_type: str = "xml"  # webhook: xml or json, as rest_callback_content_type
    sender: str | None = None  # webhook: from
    recipient: str | None = None  # webhook: to

    @property
    def module(self) -> str:
        return MODULES[self.kind][0]

    @property
    def timeout_option(self) -> str:
        return MODULES[self.kind][1]

    @property
    def default_timeout(self) -> float:
        return MODULES[self.kind][2]

    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.default_timeout


def parse_header(text: str) -> tuple[str, str]:
    """'Authorization: Bearer x' -> ('Authorization', 'Bearer x')."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c in name for c in " \t\r\n") or "\n" in value:
        raise UsageError(f"--header: expected 'Name: value', got {text!r}")
    return name, value.strip()

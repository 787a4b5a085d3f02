"""The HTTP surfaces that are fuzzed: each with its OpenAPI document, the server that
serves it (a real Prosody of one version with the module loaded, or a mock backend), the
caller's credentials and the bounds its answers must keep."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.targets.prosody import ProsodyTarget
from mock_backends import start_backend

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "lua_modules"
HOST = "localhost"
PASSWORD = "s3cret"
ADMIN_PASSWORD = "adminpw"
PROSODY_VERSIONS = ("0.12", "13")
MOCK_VERSION = "mock"
#: Requests that make a mock call out to a URL taken from the request: never fuzzed.
OUTBOUND_CONTROL = frozenset({"POST /_mock/send", "POST /_mock/befriend", "POST /_mock/notify"})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class FuzzServer:
    """A started server of one surface: where it listens, and what its log says."""

    host = "127.0.0.1"
    port = 0
    base_url = ""

    def problems(self) -> list[str]:
        """Error lines and tracebacks logged since the last call."""
        return []

    def between_requests(self) -> None:
        """Undo what a fuzzed request may have changed that would spoil the next ones."""

    def stop(self) -> None:
        pass


class ProsodyServer(FuzzServer):
    def __init__(
        self, profile: Profile, version: str, accounts: dict[str, str], backends: list | None = None
    ) -> None:
        self.target = ProsodyTarget(profile, prosody=version)
        self.accounts = accounts
        self.backends = backends or []
        self._seen = 0
        try:
            self.target.start()
            self._create_accounts()
        except BaseException:
            self.stop()
            raise
        self.port = self.target.http_port
        self.base_url = self.target.http_url

    def _create_accounts(self) -> None:
        for user, password in self.accounts.items():
            self.target.create_user(user, HOST, password)

    def problems(self) -> list[str]:
        lines = self.target.log()
        new, self._seen = lines[self._seen :], len(lines)
        return [line.raw for line in new if line.is_error]

    def between_requests(self) -> None:
        # A fuzzed admin request may delete an account or change its password.
        self._create_accounts()

    def stop(self) -> None:
        self.target.stop()
        for backend in self.backends:
            backend.stop()


class MockServer(FuzzServer):
    def __init__(self, kind: str) -> None:
        self.backend = start_backend(kind)
        self.host, self.port = self.backend.host, self.backend.port
        self.base_url = self.backend.url
        self._seen = 0

    def problems(self) -> list[str]:
        errors = self.backend.handler_errors()
        new, self._seen = errors[self._seen :], len(errors)
        return [error.strip().splitlines()[-1] for error in new]

    def between_requests(self) -> None:
        # A fuzzed control request may add a fault (a hang, a 512 MB answer) or an answer.
        self.backend.clear_faults()
        self.backend.clear_answers()

    def stop(self) -> None:
        self.backend.stop()


@dataclass
class Surface:
    name: str
    document: Path
    base_path: str
    start: Callable[[str], FuzzServer]
    versions: tuple[str, ...] = PROSODY_VERSIONS
    authorization: str | None = None
    body_limit: int = 1024 * 1024
    body_limit_is_the_servers: bool = False  # the HTTP server's limit, not the module's
    bound: float = 5.0  # seconds an answer may take
    tags: set[str] | None = None  # only operations with one of these tags
    exclude: frozenset[str] = field(default_factory=frozenset)


def _roster_admin(version: str) -> FuzzServer:
    roster = start_backend("roster", {"rosters": {"john": {"marie@localhost": {"name": "M"}}}})
    profile = Profile(
        hosts={
            HOST: VirtualHostProfile(
                HOST,
                modules_enabled=["http_roster_admin"],
                modules_disabled=["roster"],
                options={
                    "http_roster_url": roster.url + "/contacts/%s",
                    "http_roster_timeout": 2,
                    "storage": {"roster": "memory"},
                },
            )
        }
    )
    server = ProsodyServer(profile, version, {"john": PASSWORD}, [roster])
    try:
        # One user online, so that refreshes naming john really fetch.
        server.client = server.target.connect(f"john@{HOST}", PASSWORD)
    except BaseException:
        server.stop()
        raise
    return server


def _rest(version: str) -> FuzzServer:
    # No s2s: stanzas to other domains bounce at once instead of looking the domain up.
    profile = Profile(
        hosts={
            HOST: VirtualHostProfile(
                HOST,
                modules_enabled=["rest", "version"],
                modules_disabled=["s2s"],
                options={"rest_iq_timeout": 1, "rest_iq_max_timeout": 1},
            )
        }
    )
    return ProsodyServer(profile, version, {"john": PASSWORD})


def _admin_rest(version: str) -> FuzzServer:
    profile = Profile(
        hosts={
            HOST: VirtualHostProfile(
                HOST,
                modules_enabled=["admin_rest", "offline", "vcard", "groups_internal"],
                options={"admins": [f"admin@{HOST}"], "groups_muc_host": "rooms.localhost"},
            )
        },
        components={"rooms.localhost": ComponentProfile("rooms.localhost", "muc")},
    )
    return ProsodyServer(
        profile, version, {"admin": ADMIN_PASSWORD, "john": PASSWORD, "marie": PASSWORD}
    )


def _mock(kind: str) -> Callable[[str], FuzzServer]:
    return lambda version: MockServer(kind)


SURFACES = {
    surface.name: surface
    for surface in [
        Surface(
            "roster_admin",
            MODULES / "mod_http_roster_admin" / "openapi.yaml",
            "/roster_admin",
            _roster_admin,
            bound=5.0,
        ),
        Surface(
            "rest",
            MODULES / "mod_rest" / "openapi.yaml",
            "",
            _rest,
            authorization=basic("john", PASSWORD),
            body_limit=196608,
            bound=6.0,
        ),
        Surface(
            "admin_rest",
            MODULES / "mod_admin_rest" / "openapi.yaml",
            "/admin_rest",
            _admin_rest,
            authorization=basic(f"admin@{HOST}", ADMIN_PASSWORD),
        ),
        *(
            Surface(
                f"mock_{kind}",
                REPO / "mock_backends" / "openapi.yaml",
                "",
                _mock(kind),
                versions=(MOCK_VERSION,),
                tags={kind, "control", f"{kind} control"},
                exclude=OUTBOUND_CONTROL,
                body_limit=16 * 1024 * 1024,
                body_limit_is_the_servers=True,
            )
            for kind in ("roster", "muc_auth", "rest_callback")
        ),
    ]
}

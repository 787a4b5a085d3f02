"""Helpers and fixtures for the mod_admin_rest and mod_groups_internal tests on real
Prosody 0.12 and 13: version-aware targets, the admin profile, an HTTP client for the API,
a server set that checks the logs. conftest.py files import the fixtures to register them."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.profile import ComponentProfile, Profile, VirtualHostProfile
from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.target import HttpResponse, LogLine
from harness.targets.prosody import ProsodyTarget

REPO = Path(__file__).resolve().parents[2]
HOST = "localhost"
ADMIN = "admin@localhost"
ADMIN_PASSWORD = "adminpw"
BASE = "/admin_rest"


def launcher(version: str) -> str:
    """The launcher of Prosody `version` (13 is fetched on first use, as the harness does
    everywhere); skipped only where it cannot be had at all (no Debian apt)."""
    try:
        return resolve_prosody(version).binary
    except ProsodyInstallError as exc:
        pytest.skip(f"Prosody {version} is not available here: {exc}")


def new_target(
    profile: Profile,
    version: str,
    modules_dir: str | None = None,
    cls: type[ProsodyTarget] = ProsodyTarget,
) -> ProsodyTarget:
    """A ProsodyTarget (or subclass) for this version."""
    return cls(profile, modules_dir=modules_dir, prosody=launcher(version))


def admin_profile(
    modules: list[str] | None = None,
    components: dict | None = None,
    global_options: dict | None = None,
    **options: Any,
) -> Profile:
    host = VirtualHostProfile(
        HOST,
        modules_enabled=["admin_rest", *(modules if modules is not None else ["offline", "vcard"])],
        options={"admins": [ADMIN], **options},
    )
    return Profile(
        hosts={HOST: host},
        components={
            name: ComponentProfile(name, **spec) for name, spec in (components or {}).items()
        },
        options=global_options or {},
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Api:
    """Requests to mod_admin_rest on one server, as the admin unless told otherwise."""

    target: ProsodyTarget
    user: str = ADMIN
    password: str = ADMIN_PASSWORD
    base: str = BASE

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> HttpResponse:
        sent = dict(headers or {})
        user, password = auth or (self.user, self.password)
        if user is not None:
            sent["Authorization"] = basic(user, password)
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("Content-Type", content_type)
        return self.target.http(method, self.base + path, sent, data, timeout)


@dataclass
class Servers:
    version: str
    started: list[ProsodyTarget] = field(default_factory=list)
    noisy: set[int] = field(default_factory=set)

    def start(
        self,
        profile: Profile | None = None,
        modules_dir: str | None = None,
        admin: bool = True,
        cls: type[ProsodyTarget] = ProsodyTarget,
    ) -> ProsodyTarget:
        target = new_target(profile or admin_profile(), self.version, modules_dir, cls)
        self.started.append(target)
        target.start()
        if admin:
            target.create_user("admin", HOST, ADMIN_PASSWORD)
        return target

    def expect_errors(self, target: ProsodyTarget) -> None:
        """This server's log may hold error lines the test provoked on purpose."""
        self.noisy.add(id(target))

    def stop_all(self) -> list[LogLine]:
        problems: list[LogLine] = []
        for target in self.started:
            if id(target) not in self.noisy:
                problems += [line for line in target.log() if line.is_error]
            target.stop()
        return problems


StartServer = Callable[..., ProsodyTarget]


# -- fixtures (conftest.py files import these to register them) ---------------------------


@pytest.fixture(params=["0.12", "13"])
def prosody_version(request: pytest.FixtureRequest) -> str:
    launcher(request.param)
    return request.param


@pytest.fixture
def servers(prosody_version: str) -> Iterator[Servers]:
    """Starts servers of the version under test; fails the test if a log shows an error
    or a traceback it did not declare."""
    started = Servers(prosody_version)
    problems: list[LogLine] = []
    try:
        yield started
    finally:
        problems = started.stop_all()
    assert not problems, "Prosody logged errors:\n" + "\n".join(line.raw for line in problems)


@pytest.fixture
def start_server(servers: Servers) -> StartServer:
    return servers.start


@pytest.fixture
def modules_with(tmp_path: Path) -> Callable[..., str]:
    """A modules folder holding this repository's modules plus extra folders (probes)."""

    def build(*extra: Path) -> str:
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        for source in [*(REPO / "lua_modules").iterdir(), *extra]:
            if source.is_dir():
                (folder / source.name).symlink_to(source)
        return str(folder)

    return build

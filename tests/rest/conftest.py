"""Fixtures for mod_rest's tests on real Prosody 0.12 and 13.

`start_prosody(profile)` starts a real Prosody of the parametrized version (0.12 from
Debian, 13 from the harness' cache; a version that is not there is skipped) whose plugin
folder holds our mod_rest, mod_http_auth_cache and the test-only token helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rest_helpers import MODULES

from harness.profile import Profile
from harness.prosody_install import ProsodyInstallError, resolve_prosody
from harness.targets.prosody import ProsodyTarget

VERSIONS = ["0.12", "13"]


@pytest.fixture(scope="session")
def modules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plugin folder of links to the modules under test (and the token helper)."""
    folder = tmp_path_factory.mktemp("rest-modules")
    for name, source in MODULES.items():
        (folder / name).symlink_to(source, target_is_directory=True)
    return folder


@pytest.fixture(params=VERSIONS, ids=lambda version: f"prosody-{version}")
def prosody_version(request: pytest.FixtureRequest) -> str:
    try:
        resolve_prosody(request.param)
    except ProsodyInstallError as exc:
        pytest.skip(f"Prosody {request.param} is not available here: {exc}")
    return request.param


StartProsody = Callable[[Profile], ProsodyTarget]


@pytest.fixture
def start_prosody(prosody_version: str, modules_dir: Path) -> Iterator[StartProsody]:
    started: list[ProsodyTarget] = []

    def start(profile: Profile) -> ProsodyTarget:
        target = ProsodyTarget(profile, modules_dir=str(modules_dir), prosody=prosody_version)
        started.append(target)
        target.start()
        return target

    yield start
    for target in started:
        target.stop()

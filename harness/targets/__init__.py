"""Target registry: name -> implementation, imported lazily so a missing optional
dependency of one target (docker SDK, lupa) never breaks the others."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Any

from harness.profile import Profile
from harness.target import Target, TargetError

TARGETS = {
    "sandbox": "harness.sandbox.target:SandboxTarget",
    "prosody": "harness.targets.prosody:ProsodyTarget",
    "docker": "harness.targets.docker:DockerTarget",
}
DEFAULT_TARGET = "sandbox"


def target_class(name: str) -> type[Target]:
    try:
        path = TARGETS[name]
    except KeyError:
        raise TargetError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}") from None
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_target(name: str, profile: Profile, modules_dir: str | None = None, **options) -> Target:
    return target_class(name)(profile, modules_dir, **options)


@dataclass(frozen=True)
class TargetSpec:
    """Which server to run scenarios on: the target kind and what it is made of. Every
    target takes the Prosody version (the sandbox runs that version's Lua sources); the
    image and network are the docker target's."""

    name: str
    modules_dir: str | None = None  # replaces lua_modules/
    prosody: str | None = None  # "0.12", "13" or a launcher path (None: the environment's)
    image: str | None = None  # docker only
    network: str | None = None  # docker only
    # --coverage: a harness.coverage.CoverageRecorder every target created counts lines for
    coverage: Any = field(default=None, compare=False)

    def create(self, profile: Profile) -> Target:
        """A new target of this kind for `profile` (only the choices made are passed on)."""
        options = {"prosody": self.prosody}
        if self.name == "docker":
            options.update(image=self.image, network=self.network)
        chosen = {key: value for key, value in options.items() if value is not None}
        target = create_target(self.name, profile, self.modules_dir, **chosen)
        if self.coverage is not None:
            self.coverage.attach(target)
        return target

    def series(self) -> str | None:
        """The Prosody series ("0.12", "13") it will run, None when only the image knows."""
        from harness.containers.image import series_of
        from harness.prosody_install import ProsodyInstallError, resolve_prosody

        if self.image:
            return series_of(self.image)
        try:
            return resolve_prosody(self.prosody).series
        except ProsodyInstallError:
            return None

    def on(self, name: str) -> TargetSpec:
        """The same choice of modules and versions, on another target kind."""
        return replace(self, name=name)

"""Target registry: name -> implementation, imported lazily so a missing optional
dependency of one target (docker SDK, lupa) never breaks the others."""

from __future__ import annotations

import importlib

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

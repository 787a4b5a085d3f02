"""What a run ran on: each target's Prosody version, image and engine, and a digest of the
modules folder, so that two reports can tell a module change from a version change."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.target import PROJECT_MODULES, Target


def modules_digest(modules_dir: str | None) -> str:
    """A short digest of every file under the modules folder (names and contents)."""
    root = Path(modules_dir) if modules_dir else PROJECT_MODULES
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def target_info(target: Target) -> dict[str, Any]:
    """What a started target is made of, for the reports."""
    info: dict[str, Any] = {"prosody": target.version or "unknown"}
    for attribute in ("image", "engine_description", "network"):
        value = getattr(target, attribute, None)
        if value:
            info["engine" if attribute == "engine_description" else attribute] = value
    notices = getattr(target, "notices", None)
    if notices:
        info["missing_libraries"] = ", ".join(notices)
    return info


def describe(info: dict[str, Any]) -> str:
    """One line: "Prosody 0.12.3 in prosody-harness/prosody:0.12 (podman 4.3.1 ...)"."""
    text = f"Prosody {info.get('prosody', 'unknown')}"
    if info.get("image"):
        text += f" in {info['image']}"
    if info.get("engine"):
        text += f" ({info['engine']}, {info.get('network', 'host')} network)"
    if info.get("missing_libraries"):
        text += f"; it could not find {info['missing_libraries']} (see prosody.im/doc/depends)"
    return text

"""Prosody images built locally from Debian packages: no image registry needed.

`prosody-harness/prosody:0.12` holds Debian bookworm's prosody, `:13` the one from
bookworm-backports, each with lua-cjson, lua-unbound (what the official image has, so
Prosody prints no dependency banner), tini as PID 1 and an entrypoint shaped like the
official image's: `prosody ...` runs the server, any other command goes to prosodyctl,
the config is Debian's /etc/prosody/prosody.cfg.lua, `CMD prosody -F`.

The root filesystem comes from mmdebstrap with this machine's own apt sources; the engine
imports it with the entrypoint settings (no Dockerfile build needed). Each image carries
a label with a digest of its recipe: an image whose recipe is current is reused as is, so
a second build costs nothing; a changed recipe builds anew.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.debian import BACKPORTS, RELEASE, DebianError, apt_sources
from harness.prosody_install import SERIES, cache_dir

IMAGE_REPOSITORY = "prosody-harness/prosody"
RECIPE_LABEL = "prosody-harness.recipe"
VERSION_LABEL = "prosody-harness.prosody-series"
ENTRYPOINT = Path(__file__).with_name("entrypoint.sh")
ENTRYPOINT_IN_IMAGE = "/usr/local/bin/prosody-entrypoint"
PACKAGES = ("lua-cjson", "lua-unbound", "tini", "ca-certificates")
BUILD_TIMEOUT_SECONDS = 900


class ImageError(RuntimeError):
    """An image cannot be found or built; the message says why and what to do."""


def image_name(series: str) -> str:
    """The local image holding Prosody `series` ("0.12" or "13")."""
    return f"{IMAGE_REPOSITORY}:{series}"


def series_of(name: str) -> str | None:
    """The series of one of our own image names, None for any other image."""
    repository, _, tag = name.rpartition(":")
    return tag if repository.endswith(IMAGE_REPOSITORY) and tag in SERIES else None


def _changes(series: str, recipe: str) -> list[str]:
    return [
        f'ENTRYPOINT ["/usr/bin/tini", "--", "{ENTRYPOINT_IN_IMAGE}"]',
        'CMD ["prosody", "-F"]',
        "WORKDIR /var/lib/prosody",
        f"LABEL {RECIPE_LABEL}={recipe}",
        f"LABEL {VERSION_LABEL}={series}",
    ]


def _sources(series: str) -> list[str]:
    lines = [source.line() for source in apt_sources() if "backports" not in source.suite]
    if SERIES[series] == BACKPORTS:
        mirror = next(s.uri for s in apt_sources() if s.suite == RELEASE)
        lines.append(f"deb {mirror} {BACKPORTS} main")
    return lines


def _packages(series: str) -> list[str]:
    prosody = "prosody" if SERIES[series] == "system" else f"prosody/{SERIES[series]}"
    return [prosody, *PACKAGES]


def recipe_digest(series: str) -> str:
    """What the image is made of; a change to any part means a new build."""
    recipe = {
        "release": RELEASE,
        "packages": _packages(series),
        "entrypoint": ENTRYPOINT.read_text(),
        "changes": _changes(series, ""),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def current_image(client: Any, series: str) -> Any | None:
    """Our image for `series` if it exists and its recipe is current, else None."""
    import docker

    try:
        image = client.images.get(image_name(series))
    except docker.errors.ImageNotFound:
        return None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return image if labels.get(RECIPE_LABEL) == recipe_digest(series) else None


def ensure_image(
    client: Any, series: str, force: bool = False, say: Callable[[str], None] = print
) -> Any:
    """Our image for `series`, built when missing or stale (or when `force`). A lock makes
    parallel callers wait for one build."""
    if series not in SERIES:
        raise ImageError(f"no image recipe for Prosody {series!r}; choose {' or '.join(SERIES)}")
    locks = cache_dir() / "images"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{series}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        image = None if force else current_image(client, series)
        if image is not None:
            return image
        return _build(client, series, say)


def _build(client: Any, series: str, say: Callable[[str], None]) -> Any:
    if not shutil.which("mmdebstrap"):
        raise ImageError(
            f"building {image_name(series)} needs mmdebstrap (Debian: apt-get install -y "
            "mmdebstrap); or pass --image with an image that has Prosody"
        )
    if os.geteuid() != 0:
        raise ImageError(f"building {image_name(series)} with mmdebstrap needs root")
    try:
        sources = _sources(series)
    except DebianError as exc:
        raise ImageError(str(exc)) from None
    recipe = recipe_digest(series)
    started = time.monotonic()
    say(f"prosody-harness: building {image_name(series)} from Debian packages (about a minute)")
    with tempfile.TemporaryDirectory(prefix="prosody-harness-image-") as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        command = [
            "mmdebstrap",
            "--quiet",
            "--variant=minbase",
            f"--include={','.join(_packages(series))}",
            f"--customize-hook=upload {ENTRYPOINT} {ENTRYPOINT_IN_IMAGE}",
            f'--customize-hook=chmod 755 "$1{ENTRYPOINT_IN_IMAGE}"',
            RELEASE,
            str(rootfs),
            *sources,
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            raise ImageError(f"mmdebstrap took over {BUILD_TIMEOUT_SECONDS} s") from None
        if result.returncode != 0:
            said = (result.stdout + result.stderr).strip()[-3000:]
            raise ImageError(f"mmdebstrap failed ({result.returncode}):\n{said}")
        with open(rootfs, "rb") as tar:
            answer = client.api.import_image(src=tar, changes=_changes(series, recipe))
    image_id = _imported_id(answer)
    image = client.images.get(image_id)
    # Tagged after the import: podman's import ignores the tag it is given.
    repository, _, tag = image_name(series).rpartition(":")
    image.tag(repository, tag)
    say(f"prosody-harness: built {image_name(series)} in {time.monotonic() - started:.0f} s")
    return client.images.get(image_name(series))


def _imported_id(answer: Any) -> str:
    """The image id from the import endpoint's answer (one JSON object per line)."""
    text = answer.decode() if isinstance(answer, bytes) else str(answer)
    for line in reversed(text.strip().splitlines()):
        try:
            status = json.loads(line)
        except ValueError:
            continue
        if status.get("error"):
            raise ImageError(f"the engine refused the image: {status['error']}")
        for key in ("id", "status"):
            value = str(status.get(key, ""))
            if value.startswith("sha256:"):
                return value
    raise ImageError(f"the engine's import answer names no image: {text[-500:]}")

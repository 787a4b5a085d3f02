"""`prosody-harness image`: the container images the docker target runs, built locally."""

from __future__ import annotations

import argparse
import sys

from harness.containers.engine import EngineUnavailable, engine
from harness.containers.image import (
    RECIPE_LABEL,
    ImageError,
    current_image,
    ensure_image,
    image_name,
    recipe_digest,
)
from harness.prosody_install import SERIES

EXAMPLES = """\
examples:
  prosody-harness image build                  the 0.12 image (Debian bookworm's prosody)
  prosody-harness image build --prosody 13     the 13 image (bookworm-backports)
  prosody-harness image build --prosody all --force
                                               rebuild both, even when current
  prosody-harness image list                   what is built, and whether it is current

The docker target builds a missing image itself on first use; this command does it ahead
of time (in a CI image, say). Building needs root, mmdebstrap and a Debian mirror; the
engine is the one the docker target uses (DOCKER_HOST, Docker's socket, else a podman API
service started for the command). Any other image, prosodyim/prosody:0.12 for instance,
is used with `run --target docker --image NAME`.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "image",
        help="build or list the Prosody images of the docker target",
        description="Build the docker target's Prosody images from Debian packages (no image "
        "registry needed), or list them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build an image unless it is current")
    build.add_argument(
        "--prosody",
        choices=[*SERIES, "all"],
        default="0.12",
        help="which Prosody the image holds (default: %(default)s)",
    )
    build.add_argument("--force", action="store_true", help="build even when current")
    build.set_defaults(func=run_build)
    listing = actions.add_parser("list", help="the images and whether each is current")
    listing.set_defaults(func=run_list)


def _client():
    try:
        return engine().client
    except EngineUnavailable as exc:
        print(f"prosody-harness image: {exc}", file=sys.stderr)
        return None


def run_build(args: argparse.Namespace) -> int:
    client = _client()
    if client is None:
        return 1
    wanted = list(SERIES) if args.prosody == "all" else [args.prosody]
    for series in wanted:
        try:
            image = ensure_image(client, series, force=args.force)
        except ImageError as exc:
            print(f"prosody-harness image: {exc}", file=sys.stderr)
            return 1
        print(f"{image_name(series)}: {image.short_id} (recipe {recipe_digest(series)})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    client = _client()
    if client is None:
        return 1
    import docker

    for series in SERIES:
        name = image_name(series)
        try:
            image = client.images.get(name)
        except docker.errors.ImageNotFound:
            print(f"{name}: not built")
            continue
        state = "current" if current_image(client, series) else "stale (recipe changed)"
        recipe = (image.attrs.get("Config") or {}).get("Labels", {}).get(RECIPE_LABEL, "?")
        print(f"{name}: {image.short_id}, {state}, recipe {recipe}")
    return 0

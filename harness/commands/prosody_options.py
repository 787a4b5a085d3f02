"""The options that choose which Prosody runs, shared by `run`, `smoke` and the benchmarks."""

from __future__ import annotations

import argparse

from harness.prosody_install import PROSODY_ENV, SERIES


def add_prosody_options(parser: argparse.ArgumentParser, docker: bool = True) -> None:
    parser.add_argument(
        "--prosody",
        metavar="VERSION",
        help=f"the Prosody every target runs: {' or '.join(SERIES)} (13 is fetched from "
        "Debian's bookworm-backports into .cache/ on first use) or the path of a prosody "
        f"launcher (default: ${PROSODY_ENV}, else the prosody on PATH)",
    )
    if docker:
        parser.add_argument(
            "--image",
            metavar="NAME",
            help="container image for the docker target (default: $PROSODY_HARNESS_IMAGE, "
            "else prosody-harness/prosody:SERIES, built from Debian packages on first use; "
            "see `prosody-harness image build`)",
        )
        parser.add_argument(
            "--docker-network",
            choices=("bridge", "host"),
            help="host: the container shares this machine's loopback; bridge: ports "
            "published on 127.0.0.1, backends on the bridge's gateway address (default: "
            "$PROSODY_HARNESS_DOCKER_NETWORK, else host)",
        )

"""Free TCP ports on loopback, for servers and mock backends started by the harness.

A port the harness picks is often bound later, and again and again: a shared server's
mock backends listen on the same ports scenario after scenario. A port from the kernel's
ephemeral range (what binding port 0 gives) may meanwhile become the local end of any
outgoing connection on the machine - Prosody's own requests included - and the next
mock could not listen ("Address already in use", seen in a suite run). So ports are
picked below that range, where the kernel never hands one out by itself.
"""

from __future__ import annotations

import random
import socket

LOOPBACK = "127.0.0.1"
EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
LOWEST = 10000  # below: well-known and registered services more often listen
TRIES = 50


def _ephemeral_start() -> int:
    try:
        with open(EPHEMERAL_RANGE_FILE, encoding="ascii") as file:
            return int(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing uses right now, outside the ephemeral range when there is room
    below it (another process may still take it before the caller binds it: callers
    that can, retry)."""
    highest = _ephemeral_start() - 1
    if highest - LOWEST >= 1000:
        for _ in range(TRIES):
            port = random.randint(LOWEST, highest)
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]

"""Ports the harness picks lie below the kernel's ephemeral range, where no outgoing
connection takes one by itself between two scenarios that listen on it."""

from __future__ import annotations

import socket

from harness import ports


def test_picked_ports_are_free_and_below_the_ephemeral_range():
    start = ports._ephemeral_start()
    picked = [ports.free_port() for _ in range(20)]
    assert all(ports.LOWEST <= port < start for port in picked)
    for port in picked[:3]:
        with socket.socket() as sock:
            sock.bind((ports.LOOPBACK, port))  # free indeed


def test_without_room_below_the_range_the_kernel_picks(monkeypatch):
    monkeypatch.setattr(ports, "_ephemeral_start", lambda: ports.LOWEST + 10)
    port = ports.free_port()
    with socket.socket() as sock:
        sock.bind((ports.LOOPBACK, port))

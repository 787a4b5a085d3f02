"""Free TCP ports on loopback, for servers and mock backends started by the harness."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (another process may still take it before the
    caller binds it: callers that can, retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class HeldPorts:
    """Ports kept for servers that come and go on them, until `release()`.

    A shared Prosody server's mock backends stop after every scenario and start again on
    the same ports for the next. While one is stopped the kernel may pick its port as the
    local end of an outgoing connection (a client's, Prosody's), and the next backend
    cannot listen until that connection ends. A socket bound to the port (never listening)
    keeps the kernel's automatic picks off it; with SO_REUSEADDR on both, a server started
    with SO_REUSEADDR (every mock backend) still binds and listens there. Bound on every
    address, so that whichever address the backends listen on is covered.

    The prosody and docker targets hold their own c2s and HTTP ports the same way, from
    the moment they pick them: Prosody binds with SO_REUSEADDR too.
    """

    def __init__(self, names: list[str]) -> None:
        self._sockets: list[socket.socket] = []
        self.ports: dict[str, int] = {}
        try:
            for name in names:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self._sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", 0))
                self.ports[name] = sock.getsockname()[1]
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()

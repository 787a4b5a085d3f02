"""TLS for the sandbox's outgoing connections, checked the way Prosody checks them: the
chain against the configured CAs, and the name by util.x509's rules for the version."""

from __future__ import annotations

import select
import socket
import ssl
import time
from dataclasses import dataclass

# The whole TLS handshake, however the peer trickles it. Prosody's own net.http has no
# timeout; its server_epoll gives up a handshake after 60 s without progress.
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class TlsSettings:
    """The checks Prosody would make of the server it connects to (net_server.lua's
    addclient works them out for the Prosody version the sandbox runs)."""

    servername: str | None = None
    cafile: str | None = None
    capath: str | None = None
    verify_chain: bool = True  # the chain must lead to a CA of cafile/capath
    verify_name: bool = True  # the certificate must name servername
    common_name_counts: bool = True  # 0.12 falls back to the CN; 13 does not


def _context(tls: TlsSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the name is checked the way Prosody does, below
    if not tls.verify_chain:
        context.verify_mode = ssl.CERT_NONE
    elif tls.cafile or tls.capath:
        context.load_verify_locations(cafile=tls.cafile, capath=tls.capath)
    return context  # no CA at all: nothing verifies, as with a context without one


def prosody_identity_ok(host: str, cert: dict, common_name_counts: bool) -> bool:
    """util.x509.verify_identity for an HTTP client (no service): `host` must be among
    the certificate's DNS names; IP address entries count for nothing. 0.12 judges a
    certificate without DNS (URI, SRV, xmppAddr) names by its single common name; 13
    never looks at the common name."""
    names = cert.get("subjectAltName") or ()
    dns = [value for kind, value in names if kind == "DNS"]
    if any(_dns_match(host, name) for name in dns):
        return True
    if not common_name_counts or dns or any(k in ("URI", "othername") for k, _ in names):
        return False
    common = [v for rdn in cert.get("subject") or () for k, v in rdn if k == "commonName"]
    return len(common) == 1 and _dns_match(host, common[0])


def _dns_match(host: str, name: str) -> bool:
    host, name = host.lower().rstrip("."), name.lower().rstrip(".")
    if name.startswith("*."):  # one label, the leftmost
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return host == name


def handshake(raw: socket.socket, servername: str, tls: TlsSettings) -> ssl.SSLSocket:
    """TLS over the connected non-blocking `raw`, done within HANDSHAKE_TIMEOUT in all."""
    context = _context(tls)
    sock = context.wrap_socket(raw, server_hostname=servername, do_handshake_on_connect=False)
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT
    try:
        while True:
            try:
                sock.do_handshake()
                if tls.verify_name and not prosody_identity_ok(
                    servername, sock.getpeercert(), tls.common_name_counts
                ):
                    raise ssl.SSLCertVerificationError(
                        f"certificate-verify-failed: it does not name {servername}"
                    )
                return sock
            except ssl.SSLWantReadError:
                wait = ([sock], [])
            except ssl.SSLWantWriteError:
                wait = ([], [sock])
            left = deadline - time.monotonic()
            if left <= 0 or not any(select.select(*wait, [], left)[:2]):
                raise TimeoutError(f"TLS handshake not done within {HANDSHAKE_TIMEOUT:g} s")
    except BaseException:
        sock.close()  # at once: the peer may be waiting on this handshake
        raise

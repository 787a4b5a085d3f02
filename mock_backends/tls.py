"""Certificates for mock backends that serve HTTPS.

Two kinds of server certificate, each for the address the backend listens on:
* `trusted`: signed by a test certificate authority made once per process; a Prosody
  whose global `ssl = { cafile = ... }` names `ca_file()` verifies it.
* `self-signed`: its own issuer; nothing verifies it (a module's insecure flag is the
  only way through).

Keys are EC P-256 (quick to make). Files live in one folder per process, removed at exit.
The keys and certificates themselves are made by mock_backends.certificates, imported
when the first one is needed.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

KINDS = ("trusted", "self-signed")

_lock = threading.Lock()
_folder: Path | None = None
_authority: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None
_contexts: dict[tuple[str, str], ssl.SSLContext] = {}


def folder() -> Path:
    """This process's folder of certificates (made on first use)."""
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="prosody-harness-tls-"))
        _folder.chmod(0o755)  # readable by a Prosody in a container, whatever its user
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def folder_if_made() -> Path | None:
    """The folder, if this process made any certificate (a container mounts it)."""
    return _folder


def ca_file() -> str:
    """The test authority's certificate (PEM): what a Prosody trusts to verify `trusted`."""
    global _authority
    with _lock:
        path = folder() / "ca.pem"
        if _authority is None:
            from mock_backends import certificates

            key = certificates.new_key()
            name = certificates.name("prosody-harness test authority")
            _authority = key, certificates.certificate(name, key, name, key, ca=True)
            path.write_bytes(certificates.pem(_authority[1]))
            path.chmod(0o644)
        return str(path)


def server_context(kind: str, host: str) -> ssl.SSLContext:
    """A server-side TLS context whose certificate (of `kind`) names `host`."""
    if kind not in KINDS:
        raise ValueError(f"tls: expected one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "trusted":
        ca_file()
    with _lock:
        context = _contexts.get((kind, host))
        if context is not None:
            return context
        from mock_backends import certificates

        key = certificates.new_key()
        subject = certificates.name(host)
        if kind == "trusted":
            assert _authority is not None
            ca_key, ca_cert = _authority
            cert = certificates.certificate(
                subject, key, ca_cert.subject, ca_key, ca=False, host=host
            )
        else:
            cert = certificates.certificate(subject, key, subject, key, ca=False, host=host)
        stem = folder() / f"{kind}-{host.replace(':', '_')}"
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        cert_path.write_bytes(certificates.pem(cert))
        key_path.write_bytes(certificates.key_pem(key))
        key_path.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        _contexts[(kind, host)] = context
        return context

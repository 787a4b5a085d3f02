"""Certificates for mock backends that serve HTTPS.

Two kinds of server certificate, each for the address the backend listens on:
* `trusted`: signed by a test certificate authority made once per process; a Prosody
  whose global `ssl = { cafile = ... }` names `ca_file()` verifies it.
* `self-signed`: its own issuer; nothing verifies it (a module's insecure flag is the
  only way through).

Keys are EC P-256 (quick to make). Files live in one folder per process, removed at exit.
cryptography is imported where a certificate is made: most runs make none, and the
import is a twentieth of a second.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
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
VALID_DAYS = 30

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


def _name(common_name: str) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prosody-harness"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: x509.Name, key, issuer: x509.Name, signer, ca: bool, host: str | None = None
) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if host is not None:
        # Prosody's net.http matches the URL's host against DNS names only (IP SANs
        # count for nothing there), so an address is listed as a DNS name too; the IP
        # SAN is for every other client.
        names: list[x509.GeneralName] = [x509.DNSName(host)]
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            pass
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ca_file() -> str:
    """The test authority's certificate (PEM): what a Prosody trusts to verify `trusted`."""
    global _authority
    with _lock:
        path = folder() / "ca.pem"
        if _authority is None:
            from cryptography.hazmat.primitives.asymmetric import ec

            key = ec.generate_private_key(ec.SECP256R1())
            name = _name("prosody-harness test authority")
            _authority = key, _certificate(name, key, name, key, ca=True)
            path.write_bytes(_pem(_authority[1]))
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
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(host)
        if kind == "trusted":
            assert _authority is not None
            ca_key, ca_cert = _authority
            cert = _certificate(subject, key, ca_cert.subject, ca_key, ca=False, host=host)
        else:
            cert = _certificate(subject, key, subject, key, ca=False, host=host)
        stem = folder() / f"{kind}-{host.replace(':', '_')}"
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        cert_path.write_bytes(_pem(cert))
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        _contexts[(kind, host)] = context
        return context

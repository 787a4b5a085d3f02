"""Certificates for mock backends that serve HTTPS.

Two kinds of server certificate, each for the address the backend listens on:
* `trusted`: signed by a test certificate authority (one per process, or the one kept);
  a Prosody whose global `ssl = { cafile = ... }` names `ca_file()` verifies it.
* `self-signed`: its own issuer; nothing verifies it (a module's insecure flag is the
  only way through).

Keys are EC P-256 (quick to make). The files a server or a Prosody reads live in one
folder per process, removed at exit. The keys and certificates themselves are made by
mock_backends.certificates, imported when the first one is needed, unless `keep_in`
named a folder where an earlier process left them (mock_backends.tls_store).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

from mock_backends.tls_store import Item, TlsStore

KINDS = ("trusted", "self-signed")

_lock = threading.Lock()
_folder: Path | None = None
_store: TlsStore | None = None
_authority: Item | None = None
_contexts: dict[tuple[str, str], ssl.SSLContext] = {}


def keep_in(folder: str | os.PathLike[str] | None) -> None:
    """Keep the authority and certificates in `folder` for later processes, and take
    those kept there (None: make them in each process, the default)."""
    global _store
    with _lock:
        _store = TlsStore(folder) if folder is not None else None


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
    with _lock:
        path = folder() / "ca.pem"
        if not path.exists():
            path.write_bytes(_the_authority()[0])
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
        if context is None:
            context = _contexts[(kind, host)] = _new_context(kind, host)
        return context


def _new_context(kind: str, host: str) -> ssl.SSLContext:
    issuer = hashlib.sha256(_the_authority()[0]).hexdigest()[:12] if kind == "trusted" else ""
    # A trusted certificate is kept under its authority's digest: never one of another.
    name = f"{kind}-{host.replace(':', '_')}{'-' + issuer if issuer else ''}"
    try:
        return _loaded(name, kind, host)
    except ssl.SSLError:
        if _store is None:
            raise
        _store.forget(name)  # kept but damaged: made anew, here and for the next process
        return _loaded(name, kind, host)


def _loaded(name: str, kind: str, host: str) -> ssl.SSLContext:
    """A context on the certificate kept (or made) as `name`, from this process' folder."""
    cert, key, _until = _kept(name, lambda: _make_server(kind, host))
    stem = folder() / f"{kind}-{host.replace(':', '_')}"
    cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
    cert_path.write_bytes(cert)
    key_path.write_bytes(key)
    key_path.chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def _the_authority() -> Item:
    global _authority
    if _authority is None:
        _authority = _kept("ca", _make_authority)
    return _authority


def _kept(name: str, make) -> Item:
    return _store.get_or_make(name, make) if _store is not None else make()


def _make_authority() -> Item:
    from mock_backends import certificates

    key = certificates.new_key()
    name = certificates.name("prosody-harness test authority")
    cert = certificates.certificate(name, key, name, key, ca=True)
    return certificates.pem(cert), certificates.key_pem(key), certificates.ends(cert)


def _make_server(kind: str, host: str) -> Item:
    from mock_backends import certificates

    key = certificates.new_key()
    subject = certificates.name(host)
    if kind == "trusted":
        ca_pem, ca_key_pem, _until = _the_authority()
        ca_cert = certificates.load_certificate(ca_pem)
        ca_key = certificates.load_key(ca_key_pem)
        cert = certificates.certificate(subject, key, ca_cert.subject, ca_key, ca=False, host=host)
    else:
        cert = certificates.certificate(subject, key, subject, key, ca=False, host=host)
    return certificates.pem(cert), certificates.key_pem(key), certificates.ends(cert)

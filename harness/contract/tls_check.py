"""An https service's certificate as Prosody's net.http would judge it: verified against the
trusted CAs (--ca-file: the file Prosody's `ssl = { cafile = ... }` names), and the URL's
host found among the certificate's DNS names. Prosody matches host names against DNS names
(and the common name) only, so a certificate for an IP address needs that address as a DNS
name too: an IP address entry alone satisfies Python and curl, not Prosody."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from harness.contract.findings import CheckReport, Severity, Unreachable
from harness.contract.options import MUC_AUTH, CheckOptions


@dataclass
class Certificate:
    verified: bool
    error: str | None = None
    dns_names: list[str] = field(default_factory=list)
    common_names: list[str] = field(default_factory=list)


def names_of(der: bytes) -> tuple[list[str], list[str]]:
    """The DNS names and common names a DER certificate carries."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = list(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns = []
    common = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return dns, common


def prosody_accepts_name(host: str, dns_names: list[str], common_names: list[str]) -> bool:
    """util.x509.verify_identity: DNS names (with a leftmost wildcard), else the common name."""
    host = host.lower().rstrip(".")
    candidates = dns_names or common_names
    for name in candidates:
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def inspect(host: str, port: int, ca_file: str | None, timeout: float) -> Certificate:
    """Handshake twice: once verifying (as Prosody does), once not, to read the names."""
    verifying = ssl.create_default_context(cafile=ca_file)
    result = Certificate(verified=True)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            verifying.wrap_socket(sock, server_hostname=host),
        ):
            pass
    except ssl.SSLCertVerificationError as exc:
        result = Certificate(verified=False, error=exc.verify_message or str(exc))
    except ssl.SSLError as exc:
        result = Certificate(verified=False, error=f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        raise Unreachable(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
    plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    plain.check_hostname = False
    plain.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            plain.wrap_socket(sock, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return result
    if der:
        result.dns_names, result.common_names = names_of(der)
    return result


def check_tls(options: CheckOptions, report: CheckReport) -> bool:
    """Judge the certificate; False when the check cannot go on (not verified, no --insecure)."""
    parts = urlsplit(options.url)
    host, port = parts.hostname or "", parts.port or 443
    cert = inspect(host, port, options.ca_file, options.effective_timeout)
    skippable = options.kind == MUC_AUTH  # only mod_muc_http_auth has an insecure option
    trust = (
        f"the CA file {options.ca_file}"
        if options.ca_file
        else "the system's trusted CAs (--ca-file names the file Prosody trusts)"
    )
    if not cert.verified:
        if skippable and options.insecure:
            report.add(
                Severity.WARNING,
                "tls.unverified",
                f"the certificate does not verify against {trust}: {cert.error}",
                "mod_muc_http_auth reaches the service only with "
                "muc_http_auth_insecure = true, which turns verification off "
                "(for development, never in production)",
                hint="give the service a certificate from a CA Prosody trusts",
            )
        else:
            effect = (
                "every question fails with 'service unreachable' and every join is refused"
                if skippable
                else f"{options.module} has no option to skip verification: every request "
                "fails as unreachable"
            )
            report.add(
                Severity.VIOLATION,
                "tls.unverified",
                f"the certificate does not verify against {trust}: {cert.error}",
                effect,
                hint="use a certificate from a CA Prosody trusts, or name that CA in "
                "Prosody's ssl = { cafile = ... } and here with --ca-file"
                + (
                    ""
                    if options.insecure
                    else "; --insecure checks the rest of the protocol anyway"
                ),
            )
        if not options.insecure:
            return False
    elif _is_ip(host) and not prosody_accepts_name(host, cert.dns_names, cert.common_names):
        severity = Severity.WARNING if (skippable and options.insecure) else Severity.VIOLATION
        report.add(
            severity,
            "tls.ip-address-name",
            f"the certificate names {host} only as an IP address entry "
            f"(DNS names: {', '.join(cert.dns_names) or 'none'})",
            "Prosody's net.http matches the URL's host against DNS names and the "
            "common name only, so it refuses this certificate"
            + (" unless muc_http_auth_insecure = true" if skippable else ""),
            hint=f"add {host} as a DNS name to the certificate, or use a host name in the URL",
        )
    return True


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True

"""Keys and X.509 certificates for the mocks' HTTPS (mock_backends.tls decides which and
where they go). Kept apart so that cryptography is imported only when a certificate is
made: most runs make none, and the import is a twentieth of a second."""

from __future__ import annotations

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 30


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # EC P-256: quick to make


def name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "prosody-harness"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def certificate(
    subject: x509.Name, key, issuer: x509.Name, signer, ca: bool, host: str | None = None
) -> x509.Certificate:
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


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ends(cert: x509.Certificate) -> float:
    """The Unix time `cert` stops being valid."""
    return cert.not_valid_after_utc.timestamp()


def load_certificate(data: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data)


def load_key(data: bytes):
    return serialization.load_pem_private_key(data, password=None)

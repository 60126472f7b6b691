"""The STARTTLS context: the operator's certificate, or a cached self-signed one.

With ``smtp_tls_cert``/``smtp_tls_key`` set, those files are loaded. Otherwise a self-signed
EC P-256 certificate for the mail domain is made once and kept in the data dir (the key 0600),
and made again when it is about to expire. Opportunistic STARTTLS (RFC 3207) between MTAs does
not verify certificates, so a self-signed one still encrypts inbound mail; submission clients
need the operator's certificate or to trust this one explicitly.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agentpost.config import Settings

CERT_FILE = "smtp-tls-cert.pem"
KEY_FILE = "smtp-tls-key.pem"
VALIDITY = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)


class TlsConfigError(ValueError):
    """The configured certificate settings cannot be used; the message says why."""


def load_tls_context(settings: Settings) -> ssl.SSLContext:
    """A server-side context for STARTTLS. Blocking file and key work: call it in a thread."""
    cert, key = _configured_pair(settings) or ensure_self_signed(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load the STARTTLS certificate {cert}: {exc}") from exc
    return context


def _configured_pair(settings: Settings) -> tuple[Path, Path] | None:
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise TlsConfigError("set both smtp_tls_cert and smtp_tls_key, or neither")
    return cert.expanduser(), key.expanduser()


def ensure_self_signed(settings: Settings) -> tuple[Path, Path]:
    """The cached self-signed pair in the data dir, made (again) when missing or expiring."""
    cert_path = settings.data_dir / CERT_FILE
    key_path = settings.data_dir / KEY_FILE
    now = datetime.now(UTC)
    if key_path.exists() and _valid_until(cert_path) > now + RENEW_BEFORE:
        return cert_path, key_path
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert = _self_signed(key, settings.domain, now)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _valid_until(cert_path: Path) -> datetime:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return cert.not_valid_after_utc


def _self_signed(key: ec.EllipticCurvePrivateKey, domain: str, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    alt_names: list[x509.GeneralName] = [x509.DNSName(domain)]
    if domain != "localhost":
        alt_names.append(x509.DNSName("localhost"))
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by the owner only (created 0600, never world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)

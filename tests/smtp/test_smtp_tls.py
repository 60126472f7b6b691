"""STARTTLS: the cached self-signed certificate, an operator's certificate, and the trace."""

from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agentpost.config import Settings
from agentpost.services.context import AppContext
from agentpost.smtp import SmtpServer, tls

from .conftest import Listen
from .support import Agent, client_tls, folder, message, raw_message, session, transaction

pytestmark = pytest.mark.anyio


def test_self_signed_pair_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", domain="mail.example.com")
    cert_path, key_path = tls.ensure_self_signed(settings)
    assert key_path.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mail.example.com" in names.get_values_for_type(x509.DNSName)

    first = cert_path.read_bytes()
    assert tls.ensure_self_signed(settings) == (cert_path, key_path)
    assert cert_path.read_bytes() == first
    assert isinstance(tls.load_tls_context(settings), ssl.SSLContext)


def test_an_expiring_self_signed_certificate_is_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    cert_path, _ = tls.ensure_self_signed(settings)
    first = cert_path.read_bytes()
    monkeypatch.setattr(tls, "RENEW_BEFORE", tls.VALIDITY + timedelta(days=1))
    tls.ensure_self_signed(settings)
    assert cert_path.read_bytes() != first


def test_half_configured_certificate_is_a_startup_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", smtp_tls_cert=tmp_path / "cert.pem")
    with pytest.raises(tls.TlsConfigError, match="both"):
        tls.load_tls_context(settings)
    missing = settings.model_copy(update={"smtp_tls_key": tmp_path / "key.pem"})
    with pytest.raises(tls.TlsConfigError, match="cannot load"):
        tls.load_tls_context(missing)


async def test_the_configured_certificate_is_presented(
    ctx: AppContext, listen: Listen, tmp_path: Path
) -> None:
    cert_path, key_path = tls.ensure_self_signed(Settings(data_dir=tmp_path / "operator"))
    server = await listen(smtp_tls_cert=cert_path, smtp_tls_key=key_path)
    trusted = ssl.create_default_context(cafile=str(cert_path))

    def handshake(client: smtplib.SMTP) -> bytes | None:
        client.starttls(context=trusted)
        assert isinstance(client.sock, ssl.SSLSocket)
        return client.sock.getpeercert(binary_form=True)

    presented = await session(server.port, handshake)
    expected = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert presented == expected.public_bytes(serialization.Encoding.DER)


async def test_inbound_over_starttls_is_traced_as_esmtps(
    ctx: AppContext, server: SmtpServer, alice: Agent
) -> None:
    def deliver(client: smtplib.SMTP) -> list[tuple[int, bytes]]:
        client.starttls(context=client_tls(ctx))
        return transaction(client, "x@example.com", [alice.address], message())

    assert (await session(server.port, deliver))[-1][0] == 250
    [record] = await folder(ctx, alice)
    trace = (await raw_message(ctx, alice, record.uid)).split(b"\r\nFrom:")[0]
    assert b"with ESMTPS\r\n\t(using TLSv1." in trace

"""Fixtures for the delivery tests: SMTP peers on 127.0.0.1 port 0 and fast queue settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentpost.config import Settings
from agentpost.testing.fake_smtp import FakeRelay, SmtpSink


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Retries in milliseconds rather than minutes, so a test sees several attempts."""
    return settings.model_copy(
        update={
            "delivery_retry_base_seconds": 0.02,
            "delivery_retry_max_seconds": 0.05,
            "delivery_poll_seconds": 30.0,
        }
    )


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    peer = await SmtpSink().start()
    yield peer
    await peer.close()


@pytest.fixture
async def relay() -> AsyncIterator[FakeRelay]:
    peer = await FakeRelay().start()
    yield peer
    await peer.close()

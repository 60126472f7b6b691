"""A job that runs every few seconds for as long as its role runs (the scheduler's sweeps).

A round that fails (a database hiccup) is logged and does not end the loop: the next round
tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Self

logger = logging.getLogger(__name__)


class Periodic(ABC):
    """Calls ``sweep`` every ``interval`` seconds between ``start`` and ``close``."""

    name = "periodic job"

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def sweep(self) -> None:
        """One round of the job."""

    def start(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"agentpost-{self.name}")
        return self

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("%s failed; the next round tries again", self.name)
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

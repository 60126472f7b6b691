"""The scheduler role's task sweep: open tasks past their expiry are expired on time.

Listing and state-changing calls already expire an agent's own overdue tasks when they run,
but an agent that never calls again would never hear that its task lapsed; the sweep makes
``task.expired`` reach both parties within ``interval`` seconds of the deadline, whoever is
listening. Several schedulers may sweep at once: expiring is a guarded state transition, so
each task expires (and is announced) once.
"""

from __future__ import annotations

import logging

from agentpost.services import tasks
from agentpost.services.context import AppContext
from agentpost.services.periodic import Periodic

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0


class TaskSweeper(Periodic):
    name = "task sweep"

    def __init__(self, ctx: AppContext, *, interval: float = SWEEP_SECONDS) -> None:
        super().__init__(interval=interval)
        self._ctx = ctx

    async def sweep(self) -> None:
        expired = await tasks.expire_overdue(self._ctx)
        if expired:
            logger.info("expired %d overdue task(s)", expired)

"""Who may send what: an agent's permissions, limits and SMTP configuration for one send.

``authorize_send`` runs inside the send's write transaction, after the message is built and
before anything is stored. It raises ``Forbidden``/``RateLimited`` naming the rule that
refused, or returns the grant the send goes out under. The policy (docs/api/permissions.md):

* Mail to other agents on this server needs no SMTP configuration and is not counted.
* An agent with **no permission rows** keeps working (single-user installs): it may send to
  anyone through its owner's default configuration, within the server's default limits
  (``default_hourly_send_limit``/``default_daily_send_limit``).
* An agent **with rows** sends external mail only through a configuration whose row has
  ``can_send``, that is active, and whose ``allowed_recipients`` match every external
  recipient; the default row is tried first. With ``can_send`` off on every row the agent may
  not send at all, not even to other agents: that is how an owner silences an agent.
* A send with external recipients counts as one message in the sliding windows of its
  (agent, configuration) — hourly and daily limits of the row — and in the configuration's
  ``max_emails_per_day`` over a sliding 24 hours, across all agents. The counts come from the
  durable ``send_log``; on PostgreSQL concurrent sends serialize on advisory locks per
  configuration and per agent, so a limit holds across processes.

Those locks keep the one global lock order (services/send_locks.py). A group of sends
(services/outbox.py) takes all of its sends' locks up front: ``planned_locks`` names them from
the same rows ``authorize_send`` decides from.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain.addresses import Address
from agentpost.domain.send_policy import Window, recipient_allowed, resets_at, seconds_until
from agentpost.errors import Forbidden, RateLimited
from agentpost.services import smtp_configs
from agentpost.services.context import AppContext
from agentpost.services.send_locks import SendLock, locks_of, take_locks
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import permissions as repo

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LOG_RETENTION = timedelta(days=2)
PURGE_EVERY = 64  # sends per prune of the send log, on average


@dataclass(frozen=True, slots=True)
class SendGrant:
    """The send may go ahead; external recipients go through ``config_id`` (None: the
    owner's default configuration, chosen by the delivery worker). ``count`` is what
    ``count_sends`` adds to the send log once the send is really going out."""

    config_id: str | None = None
    count: SendCount | None = None  # None: local mail only, which no limit counts


@dataclass(frozen=True, slots=True)
class SendCount:
    agent_id: str
    recipients: int  # external ones
    at: datetime


@dataclass(frozen=True, slots=True)
class Route:
    """One way out for an agent's external mail: a configuration and the rules on it."""

    config_id: str | None
    is_default: bool
    can_send: bool
    allowed_recipients: list[str]
    hourly_limit: int | None
    daily_limit: int | None
    # Default policy: the server's limits cover all of the agent's external mail, whichever
    # configuration is the owner's default at the time.
    agent_wide: bool = False


@dataclass(frozen=True, slots=True)
class WindowUsage:
    name: str  # hourly | daily | config_daily
    scope: str  # agent | configuration
    limit: int | None
    used: int
    resets_at: datetime | None

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class RouteBudget:
    route: Route
    active: bool
    windows: list[WindowUsage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Budget:
    policy: str  # default (no permission rows) | assigned
    can_send: bool
    routes: list[RouteBudget]


def _limit(value: int) -> int | None:
    return value or None  # the settings' 0 means no limit


async def routes_for(
    ctx: AppContext, conn: AsyncConnection, agent: AgentRecord
) -> tuple[str, list[Route]]:
    """The agent's policy (``default`` or ``assigned``) and its routes, default first."""
    rows = await repo.permissions_of(conn, agent.id)
    if not rows:
        config_id = await smtp_configs.default_config_id(conn, agent.owner_id)
        route = Route(
            config_id=config_id,
            is_default=True,
            can_send=True,
            allowed_recipients=[],
            hourly_limit=_limit(ctx.settings.default_hourly_send_limit),
            daily_limit=_limit(ctx.settings.default_daily_send_limit),
            agent_wide=True,
        )
        return "default", [route]
    routes = [
        Route(
            config_id=r.config_id,
            is_default=r.is_default,
            can_send=r.can_send,
            allowed_recipients=r.allowed_recipients,
            hourly_limit=r.hourly_limit,
            daily_limit=r.daily_limit,
        )
        for r in rows
    ]
    return "assigned", routes


# What is known of each configuration during one check (read once: a send asks twice).
Known = dict[str, smtp_configs.ConfigLimits | None]


@dataclass(slots=True)
class Reads:
    """Permission rows and configurations read once for a group of sends in one transaction
    (services/outbox.py): they change only in other transactions. The send counts are read
    for every send, plus the group's own sends not logged yet (``unlogged``, written
    together by ``count_sends``): each send's limits see the sends before it."""

    routes: dict[str, tuple[str, list[Route]]] = field(default_factory=dict)  # by agent id
    configs: Known = field(default_factory=dict)
    unlogged: list[SendGrant] = field(default_factory=list)
    locked: list[SendLock] = field(default_factory=list)  # held by the transaction, in order

    async def routes_for(
        self, ctx: AppContext, conn: AsyncConnection, agent: AgentRecord
    ) -> tuple[str, list[Route]]:
        if agent.id not in self.routes:
            self.routes[agent.id] = await routes_for(ctx, conn, agent)
        return self.routes[agent.id]

    async def silenced(self, conn: AsyncConnection, agent: AgentRecord) -> bool:
        """Whether the owner turned the agent's sending off (rows, none with can_send)."""
        if agent.id in self.routes:
            policy, routes = self.routes[agent.id]
            return policy == "assigned" and not any(r.can_send for r in routes)
        rows = await repo.permissions_of(conn, agent.id)  # no configuration needed: one read
        return bool(rows) and not any(r.can_send for r in rows)


async def _limits(
    conn: AsyncConnection, config_id: str, known: Known
) -> smtp_configs.ConfigLimits | None:
    if config_id not in known:
        known[config_id] = await smtp_configs.config_limits(conn, config_id)
    return known[config_id]


async def _active(
    conn: AsyncConnection, agent: AgentRecord, route: Route, known: Known | None = None
) -> bool:
    """Whether the route's configuration exists, belongs to the agent's owner and is on.
    A default-policy route with no configuration yet is usable: its mail waits in the queue."""
    if route.config_id is None:
        return True
    limits = await _limits(conn, route.config_id, {} if known is None else known)
    return limits is not None and limits.is_active and limits.owner_id == agent.owner_id


def _windows(route: Route, config_cap: int | None) -> list[Window]:
    windows = [
        Window("hourly", "agent", route.hourly_limit, HOUR),
        Window("daily", "agent", route.daily_limit, DAY),
    ]
    if route.config_id is not None:
        windows.append(Window("config_daily", "configuration", config_cap, DAY))
    return windows


async def _usage(
    conn: AsyncConnection,
    agent: AgentRecord,
    route: Route,
    window: Window,
    now: datetime,
    unlogged: Sequence[SendGrant] = (),
) -> WindowUsage:
    agent_id = agent.id if window.scope == "agent" else None
    config_id = repo.ANY_CONFIG if agent_id and route.agent_wide else route.config_id
    after = now - window.length
    logged = await repo.count_sends(conn, agent_id=agent_id, config_id=config_id, after=after)
    pending = sorted(
        g.count.at
        for g in unlogged
        if g.count is not None and g.count.at > after
        and (agent_id is None or g.count.agent_id == agent_id)
        and (config_id == repo.ANY_CONFIG or g.config_id == config_id)
    )  # fmt: skip
    used = logged + len(pending)
    # The window frees its next slot when the oldest send that keeps it full leaves it.
    index = 0 if window.limit is None or used < window.limit else used - window.limit
    oldest = None
    if index < logged:
        oldest = await repo.nth_send_time(
            conn, agent_id=agent_id, config_id=config_id, after=after, index=index
        )
    elif used:  # among this transaction's sends, which are newer than any logged one
        oldest = pending[index - logged]
    reset = None if oldest is None else resets_at(oldest, window.length)
    return WindowUsage(window.name, window.scope, window.limit, used, reset)


async def route_usage(
    conn: AsyncConnection,
    agent: AgentRecord,
    route: Route,
    now: datetime,
    *,
    limited_only: bool = False,
    known: Known | None = None,
    unlogged: Sequence[SendGrant] = (),
) -> list[WindowUsage]:
    """Usage of each window of ``route``; ``limited_only`` skips windows with no limit (the
    send path needs only those, and counting costs a query per window). ``unlogged``: sends
    of this transaction that ``count_sends`` has not written yet."""
    cap = None
    if route.config_id is not None:
        limits = await _limits(conn, route.config_id, {} if known is None else known)
        cap = limits.max_emails_per_day if limits is not None else None
    windows = [w for w in _windows(route, cap) if w.limit is not None or not limited_only]
    return [await _usage(conn, agent, route, w, now, unlogged) for w in windows]


_WINDOW_WORDS = {
    "hourly": ("hourly limit", "hour", "you"),
    "daily": ("daily limit", "24 hours", "you"),
    "config_daily": ("daily cap of the SMTP configuration", "24 hours", "all its agents"),
}


def _refusal(usage: WindowUsage, config_id: str | None, now: datetime) -> RateLimited:
    rule, period, who = _WINDOW_WORDS[usage.name]
    moment = usage.resets_at or now
    via = f" through configuration {config_id}" if config_id else ""
    return RateLimited(
        f"rate limit reached: the {rule} of {usage.limit} message(s) per {period}{via} is "
        f"used up ({usage.used} sent by {who} in the last {period}); the next send is possible "
        f"at {moment.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        retry_after=seconds_until(moment, now),
    )


def _silenced() -> Forbidden:
    return Forbidden(
        "you may not send mail: your owner turned sending off (can_send is false on every "
        "SMTP configuration assigned to you)",
        code="send_not_permitted",
    )


def _recipient_refusal(route: Route, external: list[Address]) -> Forbidden:
    refused = next(
        a.address for a in external if not recipient_allowed(route.allowed_recipients, a.address)
    )
    return Forbidden(
        f"{refused} is not among the recipients you may email through configuration "
        f"{route.config_id} (allowed: {', '.join(route.allowed_recipients)}); ask your owner "
        "to extend allowed_recipients",
        code="recipient_not_allowed",
        field="to",
    )


async def _choose(
    conn: AsyncConnection,
    agent: AgentRecord,
    routes: list[Route],
    external: list[Address],
    known: Known,
) -> Route:
    active = [r for r in routes if await _active(conn, agent, r, known)]
    if not active:
        raise Forbidden(
            "none of the SMTP configurations you are assigned is active; ask your owner to "
            "enable one or assign another (mail to other agents still works)",
            code="send_not_permitted",
        )
    for route in active:
        if all(recipient_allowed(route.allowed_recipients, a.address) for a in external):
            return route
    raise _recipient_refusal(active[0], external)


async def _route_of(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    external: list[Address],
    reads: Reads,
) -> Route:
    """The route external mail to ``external`` takes, or the ``Forbidden`` that refuses it.
    Decided from ``reads`` alone once they hold the agent's rows and configurations, so the
    up-front ``planned_locks`` and the send's own check reach the same answer."""
    _, routes = await reads.routes_for(ctx, conn, agent)
    sendable = [r for r in routes if r.can_send]
    if not sendable:
        raise _silenced()
    return await _choose(conn, agent, sendable, external, reads.configs)


async def planned_locks(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    envelope: list[Address],
    reads: Reads,
) -> list[SendLock]:
    """The locks ``authorize_send`` will take for this send (none for local mail, or when
    the send will be refused before locking). Reads only, filling ``reads`` for the check."""
    external = [a for a in envelope if a.domain != ctx.settings.domain]
    if not external:
        return []
    try:
        route = await _route_of(ctx, conn, agent, external, reads)
    except Forbidden:
        return []  # the check refuses it the same way, before taking any lock
    return locks_of(agent.id, route.config_id)


async def authorize_send(
    ctx: AppContext,
    conn: AsyncConnection,
    agent: AgentRecord,
    envelope: list[Address],
    reads: Reads | None = None,
) -> SendGrant:
    """Check ``agent`` may send to ``envelope`` now (``count_sends`` then counts it). Reads
    and locks only: a refusal leaves nothing written. ``reads``: shared by a group of sends,
    which may have taken this send's locks already (``planned_locks``, ``take_locks``)."""
    reads = reads or Reads()
    external = [a for a in envelope if a.domain != ctx.settings.domain]
    if not external:  # local mail: only a silenced agent is refused; no configuration needed
        if await reads.silenced(conn, agent):
            raise _silenced()
        return SendGrant()
    route = await _route_of(ctx, conn, agent, external, reads)
    await take_locks(ctx, conn, locks_of(agent.id, route.config_id), reads.locked)
    now = datetime.now(tz=UTC)
    usages = await route_usage(
        conn, agent, route, now, limited_only=True, known=reads.configs, unlogged=reads.unlogged
    )
    for usage in usages:
        if usage.remaining == 0:
            raise _refusal(usage, route.config_id, now)
    return SendGrant(route.config_id, SendCount(agent.id, len(external), now))


async def count_sends(conn: AsyncConnection, grants: Sequence[SendGrant]) -> None:
    """Count authorized sends against the limits, in the sends' own transaction, in one
    statement. Called only for sends that really go out: held mail counts when the owner
    releases it, not also when it is held."""
    counted = [(g.config_id, g.count) for g in grants if g.count is not None]
    # Old log rows only cost space: prune now and then, not on every send.
    for agent_id, at in sorted({count.agent_id: count.at for _, count in counted}.items()):
        if secrets.randbelow(PURGE_EVERY) == 0:
            await repo.purge_send_log(conn, agent_id, at - LOG_RETENTION)
    await repo.log_sends(
        conn,
        [
            {
                "agent_id": count.agent_id,
                "config_id": config_id,
                "recipients": count.recipients,
                "sent_at": count.at,
            }
            for config_id, count in counted
        ],
    )


async def send_budget(ctx: AppContext, agent: AgentRecord) -> Budget:
    """What the agent may still send, per route and window, without counting anything."""
    now = datetime.now(tz=UTC)
    known: Known = {}  # each configuration's limits, read once for both questions
    async with ctx.db.read() as conn:
        policy, routes = await routes_for(ctx, conn, agent)
        budgets = []
        for route in routes:
            active = await _active(conn, agent, route, known)
            windows = (
                await route_usage(conn, agent, route, now, known=known) if route.can_send else []
            )
            budgets.append(RouteBudget(route, active, windows))
    return Budget(policy=policy, can_send=any(r.can_send for r in routes), routes=budgets)


async def may_send(ctx: AppContext, agent: AgentRecord) -> bool:
    """Whether the agent may send at all (for offering sending tools)."""
    async with ctx.db.read() as conn:
        _, routes = await routes_for(ctx, conn, agent)
    return any(r.can_send for r in routes)

"""Delivery rules: each agent's filters, applied when mail is delivered (services/placement).

Rules run for every inbound copy, whatever path brought it (SMTP, another agent's send, relay
import), so they are read on every delivery. ``RuleCache`` keeps each agent's compiled rules
in memory: a change made in this process drops the agent's entry at once; changes made by
another process (several servers on one PostgreSQL) are seen within ``CACHE_TTL_SECONDS``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
import weakref
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agentpost.domain import rules as domain
from agentpost.domain.folders import INBOX, SPAM, TRASH, canonical_folder
from agentpost.domain.mime import ParsedMessage
from agentpost.errors import FolderNotFound, InvalidInput, RuleExists, RuleNotFound
from agentpost.services import audit
from agentpost.services.accounts import now_utc
from agentpost.services.audit import AuditEntry
from agentpost.services.context import AppContext
from agentpost.services.tags import check_tag_name, ensure_tags
from agentpost.storage.engine import Database
from agentpost.storage.records import AgentRecord
from agentpost.storage.repositories import folders as folder_repo
from agentpost.storage.repositories import workflow as repo
from agentpost.storage.repositories.workflow import RuleRecord

if TYPE_CHECKING:  # placement calls this module: import its type only for checking
    from agentpost.services.placement import Placement

CACHE_TTL_SECONDS = 5.0
MAX_RULES_PER_AGENT = 200
MAX_RULE_NAME = 128
PRIORITY_RANGE = (-1_000_000, 1_000_000)
logger = logging.getLogger(__name__)


class RuleCache:
    """Compiled enabled rules per agent, for ``CACHE_TTL_SECONDS`` at most."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float = CACHE_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, list[domain.CompiledRule]]] = {}

    async def get(self, conn: AsyncConnection, agent_id: str) -> list[domain.CompiledRule]:
        now = time.monotonic()
        entry = self._entries.get(agent_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        compiled = [_compile(r) for r in await repo.list_rules(conn, agent_id, enabled_only=True)]
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[agent_id] = (now + self.ttl, [c for c in compiled if c is not None])
        return self._entries[agent_id][1]

    def invalidate(self, agent_id: str) -> None:
        self._entries.pop(agent_id, None)


def _compile(record: RuleRecord) -> domain.CompiledRule | None:
    try:
        return domain.compile_rule(record.id, record.name, record.conditions, record.actions)
    except domain.RuleError:  # validated on creation; a rule that no longer compiles is skipped
        logger.warning(
            "skipped rule %s of agent %s: it no longer compiles", record.id, record.agent_id
        )
        return None


# One cache per database: tests and tools may run several contexts in one process.
_caches: weakref.WeakKeyDictionary[Database, RuleCache] = weakref.WeakKeyDictionary()


def cache_for(ctx: AppContext) -> RuleCache:
    cache = _caches.get(ctx.db)
    if cache is None:
        cache = _caches[ctx.db] = RuleCache()
    return cache


# -- managing rules ---------------------------------------------------------------------------


def _check_name(name: object) -> str:
    clean = name.strip() if isinstance(name, str) else ""
    if not clean or len(clean) > MAX_RULE_NAME:
        raise InvalidInput(f"a rule name is required (1-{MAX_RULE_NAME} characters)", field="name")
    return clean


def _check_priority(priority: object) -> int:
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        raise InvalidInput(
            f"priority must be a whole number from {low} to {high}", field="priority"
        )
    return priority


async def _check_folder(conn: AsyncConnection, agent: AgentRecord, name: str) -> str:
    folder = await folder_repo.folder_by_name_ci(conn, agent.id, canonical_folder(name))
    if folder is None:
        raise FolderNotFound(
            f'actions.move_to names folder "{name}", which does not exist; create it first',
            field="actions.move_to",
        )
    return folder.name


async def create_rule(
    ctx: AppContext,
    agent: AgentRecord,
    *,
    name: str,
    conditions: object,
    actions: object,
    priority: int = 0,
    enabled: bool = True,
) -> RuleRecord:
    """Validate and store a rule: a bad or catastrophic regex, an unknown condition or action,
    or a folder that does not exist is refused here, never discovered at delivery."""
    clean = _check_name(name)
    try:
        parsed_conditions = domain.parse_conditions(conditions)
        parsed_actions = domain.parse_actions(actions)
    except domain.RuleError as exc:
        raise InvalidInput(str(exc), field=exc.field) from exc
    for tag in parsed_actions.add_tags:
        check_tag_name(tag, field="actions.add_tags")
    try:
        async with ctx.db.write() as conn:
            record = await _insert(
                conn, agent, clean, parsed_conditions, parsed_actions, priority, enabled
            )
            await audit.record(ctx, conn, _audit("rule.created", agent, record.id, record.name))
    except IntegrityError as exc:  # a concurrent create of the same name won
        raise RuleExists(f'a rule named "{clean}" already exists') from exc
    cache_for(ctx).invalidate(agent.id)
    return record


async def _insert(
    conn: AsyncConnection,
    agent: AgentRecord,
    name: str,
    conditions: domain.Conditions,
    actions: domain.Actions,
    priority: int,
    enabled: bool,
) -> RuleRecord:
    if await repo.rule_by_name(conn, agent.id, name) is not None:
        raise RuleExists(f'a rule named "{name}" already exists; delete it first to replace it')
    if await repo.count_rules(conn, agent.id) >= MAX_RULES_PER_AGENT:
        raise InvalidInput(f"an agent has at most {MAX_RULES_PER_AGENT} rules", field="name")
    if actions.move_to is not None:
        actions = dataclasses.replace(
            actions, move_to=await _check_folder(conn, agent, actions.move_to)
        )
    if actions.add_tags:
        await ensure_tags(conn, agent.id, list(actions.add_tags))
    record = RuleRecord(
        id=str(uuid.uuid4()),
        agent_id=agent.id,
        name=name,
        priority=_check_priority(priority),
        enabled=bool(enabled),
        conditions=conditions.to_dict(),
        actions=actions.to_dict(),
        created_at=now_utc(),
    )
    await repo.insert_rule(conn, record)
    return record


def _audit(operation: str, agent: AgentRecord, rule_id: str, name: str | None) -> AuditEntry:
    # Rules move and delete mail on delivery: owners can see when one appeared or went.
    detail = {"ruleId": rule_id} | ({"name": name} if name else {})
    return AuditEntry(operation, owner_id=agent.owner_id, agent_id=agent.id, detail=detail)


async def list_rules(ctx: AppContext, agent: AgentRecord) -> list[RuleRecord]:
    async with ctx.db.read() as conn:
        return await repo.list_rules(conn, agent.id)


async def delete_rule(ctx: AppContext, agent: AgentRecord, rule_id: str) -> None:
    async with ctx.db.write() as conn:
        if not await repo.delete_rule(conn, agent.id, rule_id):
            raise RuleNotFound(f"no rule with id {rule_id}; manage_rules list shows yours")
        await audit.record(ctx, conn, _audit("rule.deleted", agent, rule_id, None))
    cache_for(ctx).invalidate(agent.id)


# -- applying rules at delivery ---------------------------------------------------------------


def facts_of(parsed: ParsedMessage) -> domain.MessageFacts:
    return domain.MessageFacts(
        sender=parsed.from_addr.address,
        recipients=tuple(a.address for a in [*parsed.to, *parsed.cc]),
        subject=parsed.subject,
        has_attachment=bool(parsed.attachments),
    )


async def apply_rules(
    ctx: AppContext,
    conn: AsyncConnection,
    agent_id: str,
    parsed: ParsedMessage,
    placement: Placement,
) -> Placement:
    """The placement after the agent's first matching rule. Mail already filtered as spam is
    left where the spam step put it; a rule's folder that has gone since falls back to INBOX
    (mail is never lost to a stale rule)."""
    if placement.folder == SPAM:
        return placement
    rules = await cache_for(ctx).get(conn, agent_id)
    if not rules:
        return placement
    rule = domain.first_match(rules, facts_of(parsed))
    if rule is None:
        return placement
    actions = rule.actions
    folder = placement.folder
    if actions.delete:
        folder = TRASH  # deleting at delivery moves to Trash: a rule mistake stays recoverable
    elif actions.move_to is not None:
        exists = await folder_repo.folder_by_name(conn, agent_id, actions.move_to)
        folder = actions.move_to if exists is not None else INBOX
    tags = tuple(dict.fromkeys([*placement.tags, *actions.add_tags]))
    # replace(): fields the other delivery steps set on the placement are kept.
    return dataclasses.replace(
        placement, folder=folder, seen=placement.seen or actions.mark_read, tags=tags
    )

"""An agent's delivery rules: list, create, delete (there is no update: delete and recreate).

Rules act on every message as it is delivered (docs/api/workflow.md has the rule language).
Condition and action keys are snake_case inside their objects, as in the reference.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import Field

from agentpost.api.deps import AgentDep, CtxDep
from agentpost.api.schemas import ApiModel, OkPublic, UtcDatetime
from agentpost.services import rules
from agentpost.storage.repositories.workflow import RuleRecord

router = APIRouter(tags=["rules"])
RuleIdPath = Annotated[str, Path(min_length=1, max_length=64, description="The rule's id.")]


class RuleCreate(ApiModel):
    name: str = Field(min_length=1, max_length=rules.MAX_RULE_NAME)
    conditions: dict[str, Any] = Field(
        default_factory=dict, description="All must hold; none at all matches every message."
    )
    actions: dict[str, Any] = Field(description="move_to, mark_read, delete, add_tags.")
    priority: int = Field(default=0, description="Higher runs first.")
    enabled: bool = True


class RulePublic(ApiModel):
    id: str
    name: str
    priority: int
    enabled: bool
    conditions: dict[str, Any]
    actions: dict[str, Any]
    created_at: UtcDatetime


class RulesPublic(ApiModel):
    rules: list[RulePublic]


def rule_of(rule: RuleRecord) -> RulePublic:
    return RulePublic(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        enabled=rule.enabled,
        conditions=rule.conditions,
        actions=rule.actions,
        created_at=rule.created_at,
    )


@router.get("/rules")
async def list_rules(ctx: CtxDep, agent: AgentDep) -> RulesPublic:
    """The agent's rules in the order they are tried: priority descending, then oldest."""
    return RulesPublic(rules=[rule_of(r) for r in await rules.list_rules(ctx, agent)])


@router.post("/rules", status_code=status.HTTP_201_CREATED)
async def create_rule(ctx: CtxDep, agent: AgentDep, body: RuleCreate) -> RulePublic:
    """A new rule; bad conditions (an invalid or catastrophic regex), unknown actions and
    folders that do not exist are refused here."""
    created = await rules.create_rule(
        ctx,
        agent,
        name=body.name,
        conditions=body.conditions,
        actions=body.actions,
        priority=body.priority,
        enabled=body.enabled,
    )
    return rule_of(created)


@router.delete("/rules/{rule_id}")
async def delete_rule(ctx: CtxDep, agent: AgentDep, rule_id: RuleIdPath) -> OkPublic:
    """Delete a rule; mail delivered from now on no longer sees it."""
    await rules.delete_rule(ctx, agent, rule_id)
    return OkPublic()

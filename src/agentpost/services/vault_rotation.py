"""Vault key rotation: a new key seals everything, then the old keys go.

With the key file, ``rotate_vault`` adds a fresh key (now the active one), reseals every
stored value in batches of small transactions, checks that nothing is left under an old key,
and only then drops the old keys from the file: until that moment every value stays readable,
so a failure half-way loses nothing and the command can simply be run again. With
``AGENTPOST_VAULT_KEY`` the operator sets the new key there (the old one in
``AGENTPOST_VAULT_PREVIOUS_KEYS``) and the rotation reseals under it; dropping the old key
from the environment afterwards is theirs to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentpost.errors import VaultError
from agentpost.services.audit import AuditEntry, record_now
from agentpost.services.context import AppContext
from agentpost.storage.repositories import vault as repo

BATCH = 200


@dataclass(frozen=True, slots=True)
class RotationReport:
    new_key_id: str
    previous_key_ids: list[str]
    resealed: dict[str, int] = field(default_factory=dict)
    retired_key_ids: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


async def _reseal_column(ctx: AppContext, column: repo.SealedColumn, key_id: str) -> int:
    done = 0
    while True:
        async with ctx.db.write() as conn:
            rows = await repo.sealed_not_under(conn, column, key_id, limit=BATCH)
            for row_id, token in rows:
                context = column.context(row_id)
                plain = ctx.vault.decrypt(token, context=context)
                await repo.reseal(
                    conn, column, row_id, ctx.vault.encrypt(plain, context=context), key_id
                )
        done += len(rows)
        if len(rows) < BATCH:
            return done


async def rotate_vault(ctx: AppContext) -> RotationReport:
    """Reseal every stored credential under a new key and retire the old keys (audited)."""
    previous = [k for k in ctx.vault.key_ids() if k != ctx.vault.active_key_id]
    previous.append(ctx.vault.active_key_id)
    new_key_id = ctx.vault.add_file_key() if ctx.vault.uses_key_file else ctx.vault.active_key_id
    resealed = {c.name: await _reseal_column(ctx, c, new_key_id) for c in repo.SEALED_COLUMNS}
    async with ctx.db.read() as conn:
        usage = await repo.key_usage(conn)
    left = sum(count for key_id, count in usage.items() if key_id != new_key_id)
    if left:
        raise VaultError(
            f"{left} stored credential(s) were sealed under an old key while rotating; the old "
            "keys are kept, run `agentpost vault rotate` again"
        )
    retired = ctx.vault.retire_file_keys()
    report = RotationReport(
        new_key_id=new_key_id,
        previous_key_ids=[k for k in previous if k != new_key_id],
        resealed=resealed,
        retired_key_ids=retired,
    )
    detail = {"new_key_id": new_key_id, "retired": retired, "resealed": resealed}
    await record_now(ctx, AuditEntry("vault.rotated", recipients=0, detail=detail))
    return report

"""``agentpost vault``: rotate the key that seals stored SMTP and relay passwords."""

from __future__ import annotations

import typer

from agentpost.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    admin_session,
    build_settings,
    out_console,
    print_json,
    run,
)
from agentpost.config import Settings
from agentpost.services.vault_rotation import RotationReport, rotate_vault

app = typer.Typer(help="The vault that seals stored credentials.")


async def _rotate(settings: Settings) -> RotationReport:
    async with admin_session(settings) as (ctx, _admin):
        return await rotate_vault(ctx)


@app.command("rotate")
def rotate_command(
    json_output: JsonOption = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Reseal every stored password under a new key, then retire the old key.

    With the key file (the default) a new key is made. With AGENTPOST_VAULT_KEY, first set the
    new key there and the old one in AGENTPOST_VAULT_PREVIOUS_KEYS, then run this.
    """
    settings = build_settings(data_dir=data_dir, database_url=database_url)
    report = run(_rotate(settings), settings)
    if json_output:
        print_json(
            {
                "newKeyId": report.new_key_id,
                "previousKeyIds": report.previous_key_ids,
                "resealed": report.resealed,
                "retiredKeyIds": report.retired_key_ids,
            }
        )
        return
    console = out_console()
    console.print(f"Active vault key: {report.new_key_id}; resealed {report.total} value(s).")
    if report.retired_key_ids:
        console.print(f"Retired key(s): {', '.join(report.retired_key_ids)}")
    elif settings.vault_key is not None:
        console.print("Old keys can now be removed from AGENTPOST_VAULT_PREVIOUS_KEYS.")

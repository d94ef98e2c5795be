"""`flask audit verify` and `flask audit export`."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from access_program.audit.service import exported, iter_events, verify_chain

audit_cli = AppGroup("audit", help="Verify or export the audit chain.")


@audit_cli.command("verify")
def verify() -> None:
    """Recompute every hash; exit 1 at the first broken sequence number."""
    result = verify_chain()
    if result.ok:
        click.echo(f"OK: {result.count} events, head {result.head}")
        return
    click.echo(
        f"BROKEN at seq {result.broken_seq}: {result.problem} "
        f"({result.count} events verified before it)",
        err=True,
    )
    sys.exit(1)


@audit_cli.command("export")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-")
def export(output) -> None:
    """Write every event as JSON Lines (canonical fields plus hash)."""
    for event in iter_events():
        output.write(json.dumps(exported(event), sort_keys=True, ensure_ascii=False) + "\n")

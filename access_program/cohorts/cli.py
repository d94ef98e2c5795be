"""`flask invitations expire` (run by cron)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from access_program.audit.service import Actor
from access_program.cohorts.service import expire_invitations
from access_program.db import unit_of_work

invitations_cli = AppGroup("invitations", help="Invitations.")


@invitations_cli.command("expire")
def expire() -> None:
    """Mark pending invitations past their expiry as expired."""
    with unit_of_work():
        count = expire_invitations(Actor.system("cron"))
    click.echo(f"Expired {count} invitation(s).")

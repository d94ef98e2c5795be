"""`flask reviews apply-deadlines` (run by cron)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from access_program.db import unit_of_work
from access_program.reviews.service import apply_deadlines

reviews_cli = AppGroup("reviews", help="Output-approval requests.")


@reviews_cli.command("apply-deadlines")
def apply_deadlines_command() -> None:
    """Deem approved (or escalate) every request past its review deadline. Idempotent."""
    with unit_of_work():
        result = apply_deadlines()
    click.echo(f"Deemed approved: {result.deemed_approved}; escalated: {result.escalated}.")

"""`flask compensation accrue-stipends --month YYYY-MM` (run monthly by cron)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from access_program.compensation.service import accrue_stipends, parse_month
from access_program.db import unit_of_work
from access_program.errors import DomainError

compensation_cli = AppGroup("compensation", help="Contributions, stipends and the ledger.")


def _month(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_month(value)
    except DomainError as exc:
        raise click.BadParameter(exc.message) from None
    return value


@compensation_cli.command("accrue-stipends")
@click.option("--month", required=True, callback=_month, help="The month to credit, as YYYY-MM.")
def accrue_stipends_command(month: str) -> None:
    """Credit each active member's monthly stipend once. Running it again credits nothing more."""
    try:
        with unit_of_work():
            result = accrue_stipends(month)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"Stipends for {month}: {result.credited} credited, {result.already_credited} already"
        f" credited, {result.zero_stipend} with no stipend in their rate card,"
        f" {result.without_terms} without accepted terms."
    )
    for problem in result.refused:
        click.echo(f"Refused: {problem}", err=True)

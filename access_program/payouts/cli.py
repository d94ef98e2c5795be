"""`flask payouts execute RUN_ID`: execute a payout run, or resume one (cron, or by hand)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from access_program.audit.service import Actor
from access_program.errors import DomainError
from access_program.payouts.models import PayoutStatus
from access_program.payouts.service import execute_run, get_run, run_summary

payouts_cli = AppGroup("payouts", help="Payout runs.")

CLI_ACTOR = Actor.system("cli")


@payouts_cli.command("execute")
@click.argument("run_id", type=click.IntRange(min=1))
@click.option(
    "--no-wait",
    is_flag=True,
    help="Return at once when another executor holds the last payouts, instead of waiting.",
)
def execute_command(run_id: int, no_wait: bool) -> None:
    """Send the run's payouts to Stripe, each once with its own idempotency key. Resumes a run
    left executing (a crash, a timeout, a 5xx): payouts left submitted are retried with the same
    key, after reconciliation when older than 23 hours. Safe to run twice at once."""
    try:
        run, result = execute_run(CLI_ACTOR, get_run(run_id), wait=not no_wait)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    summary = run_summary(run.id)
    click.echo(
        f"Payout run {run.id}: {run.status}. This execution: {result.paid} paid,"
        f" {result.failed} failed, {result.unanswered} without an answer from Stripe."
        f" Run: {summary.counts.get(PayoutStatus.PAID, 0)} paid,"
        f" {summary.counts.get(PayoutStatus.FAILED, 0)} failed, {summary.open} open."
    )
    for message in result.messages:
        click.echo(message, err=True)
    if summary.open:
        click.echo(
            f"{summary.open} payout(s) still wait for Stripe: run `flask payouts execute {run.id}`"
            " again to retry them with the same keys.",
            err=True,
        )
        raise SystemExit(3)

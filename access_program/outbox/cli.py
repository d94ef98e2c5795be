"""`flask outbox send`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from access_program.db import unit_of_work
from access_program.outbox.service import deliver, pending_messages

outbox_cli = AppGroup("outbox", help="Outgoing email.")


@outbox_cli.command("send")
@click.option("--limit", default=500, show_default=True)
def send(limit: int) -> None:
    """Deliver queued messages (SMTP when SMTP_HOST is set, the log otherwise)."""
    sent = failed = 0
    with unit_of_work():
        for message in pending_messages(limit):
            deliver(message)
            if message.sent_at:
                sent += 1
            else:
                failed += 1
    click.echo(f"Sent {sent}, failed {failed}.")

"""`flask outbox send`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from access_program.db import unit_of_work
from access_program.outbox.service import deliver, next_pending_message

outbox_cli = AppGroup("outbox", help="Outgoing email.")


@outbox_cli.command("send")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(min=1))
def send(limit: int) -> None:
    """Deliver queued messages (SMTP when SMTP_HOST is set, the log otherwise).

    One transaction per message: a failure later in the run never re-sends the ones already
    delivered, and a failed message waits for the next run.
    """
    sent = failed = last_id = 0
    for _ in range(limit):
        with unit_of_work():
            message = next_pending_message(after_id=last_id)
            if message is None:
                break
            last_id = message.id
            deliver(message)
            delivered = message.sent_at is not None
        if delivered:
            sent += 1
        else:
            failed += 1
    click.echo(f"Sent {sent}, failed {failed}.")

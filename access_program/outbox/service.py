"""Queue email in the caller's transaction; deliver later with `flask outbox send`."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app

from access_program.db import db, utcnow
from access_program.outbox.models import OutboxMessage

log = logging.getLogger(__name__)


def queue_email(
    kind: str, to_email: str, subject: str, body: str, *, user_id: int | None = None
) -> OutboxMessage:
    message = OutboxMessage(
        kind=kind, to_email=to_email, subject=subject, body=body, user_id=user_id
    )
    db.session.add(message)
    return message


def queue_many(kind: str, recipients: Iterable[tuple[int, str]], subject: str, body: str) -> int:
    """One message per (user id, email); returns how many were queued."""
    rows = [
        {
            "kind": kind,
            "to_email": email,
            "user_id": uid,
            "subject": subject,
            "body": body,
            "created_at": utcnow(),
            "attempts": 0,
        }
        for uid, email in recipients
    ]
    if rows:
        db.session.execute(sa.insert(OutboxMessage), rows)
    return len(rows)


#: After this many failed attempts a message stays unsent (visible in the admin outbox).
MAX_ATTEMPTS = 10


def _pending() -> sa.Select:
    return (
        sa.select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS)
        .order_by(OutboxMessage.id)
    )


def pending_messages(limit: int = 100) -> list[OutboxMessage]:
    """Unsent messages, oldest first."""
    return list(db.session.scalars(_pending().limit(limit)))


def next_pending_message(after_id: int = 0) -> OutboxMessage | None:
    """The oldest unsent message after ``after_id``. On PostgreSQL it stays locked until the
    caller's commit and a second sender running at the same time skips it (no double send)."""
    return db.session.scalar(
        _pending().where(OutboxMessage.id > after_id).limit(1).with_for_update(skip_locked=True)
    )


def deliver(message: OutboxMessage) -> None:
    """Send one message by SMTP when configured, otherwise log it; marks it sent."""
    message.attempts += 1
    host = current_app.config.get("SMTP_HOST")
    if host:
        try:
            email = _email(message)
        except ValueError as exc:  # a header with a line break, say: retrying cannot help
            message.last_error = f"cannot be sent: {exc}"
            message.attempts = MAX_ATTEMPTS
            return
        try:
            with smtplib.SMTP(host, current_app.config["SMTP_PORT"], timeout=30) as smtp:
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            log.warning("outbox #%s to %s failed: %s", message.id, message.to_email, exc)
            message.last_error = str(exc) or type(exc).__name__
            return
    else:
        log.info("outbox #%s to %s: %s", message.id, message.to_email, message.subject)
    message.sent_at = utcnow()
    message.last_error = None


def _email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["SMTP_FROM"]
    email["To"] = message.to_email
    email["Subject"] = message.subject
    email.set_content(message.body)
    return email

"""Outgoing email, written in the same transaction as the change it reports."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.db import UTCDateTime, db, utcnow


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: What it is about: "invitation", "pause.started", "decision", …
    kind: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    to_email: so.Mapped[str] = so.mapped_column(sa.String(254))
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    subject: so.Mapped[str] = so.mapped_column(sa.String(255))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime, index=True)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)

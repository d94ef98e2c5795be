"""The audit chain: one append-only row per state change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.db import UTCDateTime, db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    #: Gapless sequence number: 1, 2, 3 … (unique, so a forked chain cannot be committed).
    seq: so.Mapped[int] = so.mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, index=True)
    #: "user", "service" or "system".
    actor_type: so.Mapped[str] = so.mapped_column(sa.String(16))
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    actor_label: so.Mapped[str] = so.mapped_column(sa.String(255))
    action: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    subject_type: so.Mapped[str] = so.mapped_column(sa.String(64))
    subject_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    #: The artist the event concerns, if any: drives "my record".
    artist_id: so.Mapped[int | None] = so.mapped_column(sa.Integer, index=True)
    data: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    request_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    prev_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)

    def canonical(self) -> dict[str, Any]:
        """The fields covered by the hash, as plain JSON values."""
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "artist_id": self.artist_id,
            "data": self.data,
            "request_id": self.request_id,
            "ip": self.ip,
            "prev_hash": self.prev_hash,
        }

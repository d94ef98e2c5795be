"""Access grants (with their revocations) and pauses. Nothing here is ever deleted."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.accounts.models import User
from access_program.cohorts.models import Cohort, Membership
from access_program.db import UTCDateTime, db, utcnow

#: The largest id an INTEGER primary key can hold (PostgreSQL ``integer``).
MAX_ID = 2**31 - 1


class RevocationCategory(StrEnum):
    MISCONDUCT = "misconduct"
    INACTIVITY = "inactivity"
    ARTIST_REQUEST = "artist_request"
    PROGRAM_END = "program_end"
    OTHER = "other"


class PauseScope(StrEnum):
    GLOBAL = "global"
    COHORT = "cohort"


class ReasonCode(StrEnum):
    UNKNOWN_ARTIST = "unknown_artist"
    ACCOUNT_DISABLED = "account_disabled"
    NO_ACTIVE_MEMBERSHIP = "no_active_membership"
    TERMS_NOT_ACCEPTED = "terms_not_accepted"
    NO_ACTIVE_GRANT = "no_active_grant"
    GRANT_EXPIRED = "grant_expired"
    COHORT_PAUSED = "cohort_paused"
    PROGRAM_PAUSED = "program_paused"


class Grant(db.Model):
    """Tool access for one membership. Revocation fills the revoked_* columns; a new grant is a
    new row."""

    __tablename__ = "grants"
    __table_args__ = (
        sa.CheckConstraint(
            "(revoked_at IS NULL) OR (revoke_reason IS NOT NULL AND revoke_category IS NOT NULL)",
            name="revocation_has_reason",
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    membership_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("memberships.id"), index=True)
    #: Denormalized from the membership so the access decision is one indexed lookup.
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    scope: so.Mapped[str] = so.mapped_column(sa.String(32), default="generate")
    granted_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    granted_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    revoked_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    revoke_category: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    revoke_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    membership: so.Mapped[Membership] = so.relationship()
    user: so.Mapped[User] = so.relationship(foreign_keys=[user_id])
    granted_by: so.Mapped[User | None] = so.relationship(foreign_keys=[granted_by_id])
    revoked_by: so.Mapped[User | None] = so.relationship(foreign_keys=[revoked_by_id])

    def is_current(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def state(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class Pause(db.Model):
    """A pause of tool access, global or for one cohort. At most one open pause per scope."""

    __tablename__ = "pauses"
    __table_args__ = (
        sa.Index(
            "uq_pauses_one_open_per_scope",
            "scope_key",
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        ),
        sa.CheckConstraint(
            "(scope = 'global' AND cohort_id IS NULL)"
            " OR (scope = 'cohort' AND cohort_id IS NOT NULL)",
            name="scope_matches_cohort",
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    scope: so.Mapped[str] = so.mapped_column(sa.String(16))
    cohort_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cohorts.id"))
    #: "global" or "cohort:<id>": the unique partial index keeps one open pause per key.
    scope_key: so.Mapped[str] = so.mapped_column(sa.String(32))
    reason: so.Mapped[str] = so.mapped_column(sa.Text)
    expected_end_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    started_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    started_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    ended_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    ended_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    end_note: so.Mapped[str | None] = so.mapped_column(sa.Text)

    cohort: so.Mapped[Cohort | None] = so.relationship()
    started_by: so.Mapped[User | None] = so.relationship(foreign_keys=[started_by_id])
    ended_by: so.Mapped[User | None] = so.relationship(foreign_keys=[ended_by_id])

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def scope_label(self) -> str:
        return "Whole program" if self.scope == PauseScope.GLOBAL else f"Cohort {self.cohort.name}"

    def duration(self, now: dt.datetime) -> dt.timedelta:
        return (self.ended_at or now) - self.started_at

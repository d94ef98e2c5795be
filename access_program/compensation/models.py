"""Paid contributions and the append-only ledger (SPEC §3.8)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.accounts.models import User
from access_program.cohorts.models import Terms
from access_program.db import UTCDateTime, db, utcnow


class ContributionKind(StrEnum):
    FEEDBACK_SESSION = "feedback_session"
    BUG_REPORT = "bug_report"
    RED_TEAM_FINDING = "red_team_finding"
    MARKETING_USE = "marketing_use"
    APPROVED_OUTPUT = "approved_output"
    STIPEND = "stipend"
    ADJUSTMENT = "adjustment"


#: Kinds an artist may propose themselves; staff accept or decline them.
PROPOSABLE_KINDS = (
    ContributionKind.FEEDBACK_SESSION,
    ContributionKind.BUG_REPORT,
    ContributionKind.RED_TEAM_FINDING,
)


class ContributionStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"


CONTRIBUTION_TRANSITIONS: dict[ContributionStatus, set[ContributionStatus]] = {
    ContributionStatus.PROPOSED: {ContributionStatus.ACCEPTED, ContributionStatus.DECLINED},
    ContributionStatus.ACCEPTED: set(),
    ContributionStatus.DECLINED: set(),
}


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class FeedbackSession(db.Model):
    """One session logged by staff for many artists at once."""

    __tablename__ = "feedback_sessions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    held_on: so.Mapped[dt.date] = so.mapped_column(sa.Date)
    minutes: so.Mapped[int]
    logged_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class Contribution(db.Model):
    """Work that is paid at the rate card of the terms the artist had accepted when it was done.

    The amount is computed, never typed (adjustments aside)."""

    __tablename__ = "contributions"
    __table_args__ = (
        sa.CheckConstraint("minutes IS NULL OR (minutes > 0 AND minutes <= 1440)", name="minutes"),
        # One approved-output credit per request; one stipend per artist and month.
        sa.Index(
            "uq_contributions_approved_output",
            "submission_id",
            unique=True,
            sqlite_where=sa.text("kind = 'approved_output'"),
            postgresql_where=sa.text("kind = 'approved_output'"),
        ),
        sa.Index(
            "uq_contributions_stipend_month",
            "artist_id",
            "month",
            unique=True,
            sqlite_where=sa.text("kind = 'stipend'"),
            postgresql_where=sa.text("kind = 'stipend'"),
        ),
        sa.Index("ix_contributions_artist_created", "artist_id", "created_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    artist_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    cohort_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cohorts.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=ContributionStatus.PROPOSED)
    title: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    link: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    #: Feedback time in whole minutes (hours × 60).
    minutes: so.Mapped[int | None]
    severity: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    #: When the work was done: picks the rate card.
    work_date: so.Mapped[dt.date] = so.mapped_column(sa.Date)
    submission_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("submissions.id"), index=True
    )
    feedback_session_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("feedback_sessions.id"), index=True
    )
    #: Marketing use: where and when the company used the output.
    channel: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    #: Stipend month, "YYYY-MM".
    month: so.Mapped[str | None] = so.mapped_column(sa.String(7))
    #: The terms version whose rate card priced it (set when accepted).
    terms_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("terms.id"))
    amount_minor: so.Mapped[int | None]
    currency: so.Mapped[str | None] = so.mapped_column(sa.String(3))
    proposed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    decided_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    decline_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    artist: so.Mapped[User] = so.relationship(foreign_keys=[artist_id])
    terms: so.Mapped[Terms | None] = so.relationship()

    @property
    def hours(self) -> float | None:
        return None if self.minutes is None else self.minutes / 60


class EntryKind(StrEnum):
    #: An accepted contribution (positive).
    CREDIT = "credit"
    #: A paid payout (negative).
    PAYOUT = "payout"
    #: A payout reversed by Stripe: the amount comes back (positive).
    PAYOUT_REVERSAL = "payout_reversal"
    #: Reverses an earlier entry (opposite sign); the ledger is never edited.
    CORRECTION = "correction"
    #: An admin adjustment with a reason: positive or negative, never 0.
    ADJUSTMENT = "adjustment"


class LedgerEntry(db.Model):
    """Append-only: balance = sum(amount_minor). Constraints make double credits impossible."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.CheckConstraint("amount_minor <> 0", name="non_zero"),
        sa.CheckConstraint(
            "(kind = 'credit' AND contribution_id IS NOT NULL AND amount_minor > 0)"
            " OR (kind = 'payout' AND payout_id IS NOT NULL AND amount_minor < 0)"
            " OR (kind = 'payout_reversal' AND payout_id IS NOT NULL AND amount_minor > 0"
            " AND reversed_through IS NOT NULL)"
            " OR (kind = 'correction' AND reverses_entry_id IS NOT NULL)"
            " OR (kind = 'adjustment' AND contribution_id IS NOT NULL)",
            name="kind_matches",
        ),
        sa.UniqueConstraint("contribution_id"),
        # One debit per payout; one reversal entry per cumulative reversed total of a payout
        # (a transfer may be reversed in several parts, each credited once).
        sa.Index(
            "uq_ledger_entries_payout_debit",
            "payout_id",
            unique=True,
            sqlite_where=sa.text("kind = 'payout'"),
            postgresql_where=sa.text("kind = 'payout'"),
        ),
        sa.UniqueConstraint("payout_id", "reversed_through"),
        sa.UniqueConstraint("reverses_entry_id"),
        sa.Index("ix_ledger_entries_artist_created", "artist_id", "created_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    artist_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(32))
    amount_minor: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    description: so.Mapped[str] = so.mapped_column(sa.String(300))
    contribution_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("contributions.id"))
    payout_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("payouts.id"))
    reverses_entry_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("ledger_entries.id"))
    #: A payout reversal: the transfer's cumulative ``amount_reversed`` after it (400, then 1000).
    reversed_through: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    #: The rate-card version behind a credit (statements show it).
    terms_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("terms.id"))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    contribution: so.Mapped[Contribution | None] = so.relationship()
    terms: so.Mapped[Terms | None] = so.relationship()

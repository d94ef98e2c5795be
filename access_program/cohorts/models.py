"""Cohorts, memberships, invitations, terms versions with their policy clauses and rate cards."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.accounts.models import User
from access_program.db import UTCDateTime, db, utcnow


class CohortStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


COHORT_TRANSITIONS: dict[CohortStatus, set[CohortStatus]] = {
    CohortStatus.DRAFT: {CohortStatus.OPEN, CohortStatus.CLOSED},
    CohortStatus.OPEN: {CohortStatus.CLOSED},
    CohortStatus.CLOSED: set(),
}


class OnDeadline(StrEnum):
    DEEMED_APPROVED = "deemed_approved"
    ESCALATE = "escalate"


class TermsStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


INVITATION_TRANSITIONS: dict[InvitationStatus, set[InvitationStatus]] = {
    InvitationStatus.PENDING: {
        InvitationStatus.ACCEPTED,
        InvitationStatus.DECLINED,
        InvitationStatus.EXPIRED,
        InvitationStatus.WITHDRAWN,
    },
}


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


SEVERITIES = ("low", "medium", "high", "critical")


class Terms(db.Model):
    """A terms version. Published versions never change; a new version supersedes."""

    __tablename__ = "terms"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    label: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    #: Markdown, rendered safely.
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=TermsStatus.DRAFT)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    published_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)

    clauses: so.Mapped[list[PolicyClause]] = so.relationship(
        back_populates="terms", order_by="PolicyClause.position", cascade="all, delete-orphan"
    )
    rate_card: so.Mapped[RateCard | None] = so.relationship(
        back_populates="terms", cascade="all, delete-orphan"
    )

    @property
    def is_published(self) -> bool:
        return self.status == TermsStatus.PUBLISHED


class PolicyClause(db.Model):
    """A numbered content-policy clause (``P3``) that refusals cite."""

    __tablename__ = "policy_clauses"
    __table_args__ = (sa.UniqueConstraint("terms_id", "code"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    terms_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("terms.id"), index=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(16))
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    position: so.Mapped[int] = so.mapped_column(default=0)

    terms: so.Mapped[Terms] = so.relationship(back_populates="clauses")


class RateCard(db.Model):
    """What every member is paid, per terms version. Amounts in minor units of ``currency``."""

    __tablename__ = "rate_cards"
    __table_args__ = (
        sa.CheckConstraint(
            "feedback_hour >= 0 AND bug_low >= 0 AND bug_medium >= 0 AND bug_high >= 0"
            " AND bug_critical >= 0 AND red_team_low >= 0 AND red_team_medium >= 0"
            " AND red_team_high >= 0 AND red_team_critical >= 0 AND approved_output >= 0"
            " AND marketing_use >= 0 AND monthly_stipend >= 0 AND minimum_payout >= 0",
            name="non_negative",
        ),
        sa.CheckConstraint("length(currency) = 3", name="currency"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    terms_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("terms.id"), unique=True)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    feedback_hour: so.Mapped[int]
    bug_low: so.Mapped[int]
    bug_medium: so.Mapped[int]
    bug_high: so.Mapped[int]
    bug_critical: so.Mapped[int]
    red_team_low: so.Mapped[int]
    red_team_medium: so.Mapped[int]
    red_team_high: so.Mapped[int]
    red_team_critical: so.Mapped[int]
    approved_output: so.Mapped[int]
    marketing_use: so.Mapped[int]
    monthly_stipend: so.Mapped[int]
    minimum_payout: so.Mapped[int]

    terms: so.Mapped[Terms] = so.relationship(back_populates="rate_card")

    def as_dict(self) -> dict:
        return {
            "currency": self.currency,
            "feedback_hour": self.feedback_hour,
            "bug_report": {s: getattr(self, f"bug_{s}") for s in SEVERITIES},
            "red_team_finding": {s: getattr(self, f"red_team_{s}") for s in SEVERITIES},
            "approved_output": self.approved_output,
            "marketing_use": self.marketing_use,
            "monthly_stipend": self.monthly_stipend,
            "minimum_payout": self.minimum_payout,
        }


class Cohort(db.Model):
    __tablename__ = "cohorts"
    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("review_hours > 0", name="review_hours_positive"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    capacity: so.Mapped[int] = so.mapped_column(default=300)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=CohortStatus.DRAFT)
    review_hours: so.Mapped[int] = so.mapped_column(default=72)
    on_deadline: so.Mapped[str] = so.mapped_column(
        sa.String(32), default=OnDeadline.DEEMED_APPROVED
    )
    #: Grant tool access automatically when an invitation is accepted.
    auto_grant: so.Mapped[bool] = so.mapped_column(default=True)
    #: A proposed rejection needs a second staff member to become final.
    two_person_rule: so.Mapped[bool] = so.mapped_column(default=True)
    terms_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("terms.id"))
    starts_on: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    ends_on: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    closed_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)

    terms: so.Mapped[Terms | None] = so.relationship()


class Membership(db.Model):
    """An artist's place in a cohort. At most one active membership per artist."""

    __tablename__ = "memberships"
    __table_args__ = (
        sa.UniqueConstraint("cohort_id", "user_id"),
        sa.Index(
            "uq_memberships_one_active",
            "user_id",
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    cohort_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cohorts.id"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=MembershipStatus.ACTIVE)
    joined_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    ended_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    #: The latest terms version this member accepted (the access decision compares it).
    accepted_terms_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("terms.id"))

    cohort: so.Mapped[Cohort] = so.relationship()
    user: so.Mapped[User] = so.relationship()
    accepted_terms: so.Mapped[Terms | None] = so.relationship()


class TermsAcceptance(db.Model):
    __tablename__ = "terms_acceptances"
    __table_args__ = (sa.UniqueConstraint("membership_id", "terms_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    membership_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("memberships.id"))
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    terms_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("terms.id"))
    accepted_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    terms: so.Mapped[Terms] = so.relationship()


class Invitation(db.Model):
    __tablename__ = "invitations"
    __table_args__ = (
        sa.Index(
            "uq_invitations_one_pending",
            "cohort_id",
            "email",
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    cohort_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cohorts.id"), index=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), index=True)
    #: SHA-256 of the single-use token (256 random bits); the token is only in the link.
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    invited_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=InvitationStatus.PENDING)
    responded_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    cohort: so.Mapped[Cohort] = so.relationship()
    invited_by: so.Mapped[User | None] = so.relationship(foreign_keys=[invited_by_id])

    def is_expired(self, now: dt.datetime) -> bool:
        return self.expires_at <= now

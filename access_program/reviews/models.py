"""Output-approval requests ("submissions"), reviewer decisions and appeals (SPEC §3.11)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.accounts.models import User
from access_program.cohorts.models import Cohort, Terms
from access_program.db import UTCDateTime, db, utcnow


class Status(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    APPEALED = "appealed"
    APPEAL_GRANTED = "appeal_granted"
    APPEAL_UPHELD = "appeal_upheld"
    WITHDRAWN = "withdrawn"
    DEEMED_APPROVED = "deemed_approved"


#: The one table of allowed moves. Anything else is an InvalidTransition (409).
TRANSITIONS: dict[Status, set[Status]] = {
    Status.SUBMITTED: {Status.IN_REVIEW, Status.WITHDRAWN, Status.DEEMED_APPROVED},
    Status.IN_REVIEW: {
        Status.APPROVED,
        Status.CHANGES_REQUESTED,
        Status.REJECTED,
        Status.WITHDRAWN,
        Status.DEEMED_APPROVED,
    },
    Status.CHANGES_REQUESTED: {Status.SUBMITTED, Status.WITHDRAWN},
    Status.REJECTED: {Status.APPEALED},
    Status.APPEALED: {Status.APPEAL_GRANTED, Status.APPEAL_UPHELD},
    Status.APPROVED: set(),
    Status.APPEAL_GRANTED: set(),
    Status.APPEAL_UPHELD: set(),
    Status.WITHDRAWN: set(),
    Status.DEEMED_APPROVED: set(),
}

#: Waiting on staff: these count against the review deadline.
OPEN_STATES = (Status.SUBMITTED, Status.IN_REVIEW)
#: The artist may share the output.
APPROVED_STATES = (Status.APPROVED, Status.DEEMED_APPROVED, Status.APPEAL_GRANTED)


class IntendedUse(StrEnum):
    SOCIAL_POST = "social_post"
    FESTIVAL = "festival"
    EXHIBITION = "exhibition"
    PORTFOLIO = "portfolio"
    PRESS = "press"
    COMMERCIAL = "commercial"
    OTHER = "other"


class Outcome(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    DEEMED_APPROVED = "deemed_approved"


class DecisionState(StrEnum):
    #: Took effect.
    FINAL = "final"
    #: A rejection waiting for a second staff member (two-person rule).
    PROPOSED = "proposed"
    #: A proposed rejection that a second reviewer replaced with another outcome.
    OVERTURNED = "overturned"
    #: A proposed rejection still unconfirmed when the review deadline passed.
    LAPSED = "lapsed"


class Submission(db.Model):
    """An artist's request to share one output."""

    __tablename__ = "submissions"
    __table_args__ = (
        sa.Index(
            "ix_submissions_queue",
            "queue_at",
            sqlite_where=sa.text("queue_at IS NOT NULL"),
            postgresql_where=sa.text("queue_at IS NOT NULL"),
        ),
        sa.Index("ix_submissions_artist_created", "artist_id", "created_at"),
        sa.CheckConstraint("revision >= 1", name="revision_positive"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    artist_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"))
    cohort_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cohorts.id"), index=True)
    #: The terms version the artist had accepted: refusals cite its clauses.
    terms_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("terms.id"))
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    output_ref: so.Mapped[str] = so.mapped_column(sa.String(500))
    output_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    intended_use: so.Mapped[str] = so.mapped_column(sa.String(32))
    venue: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    planned_date: so.Mapped[dt.date | None] = so.mapped_column(sa.Date)
    status: so.Mapped[str] = so.mapped_column(sa.String(32), default=Status.SUBMITTED)
    revision: so.Mapped[int] = so.mapped_column(default=1)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: When the current revision was submitted; the deadline runs from here.
    submitted_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: Review deadline; None while the request waits on the artist or is decided.
    due_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    #: Sort key of the review queue; set only while staff owe an answer (open or appealed).
    queue_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    claimed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    claimed_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    #: Deadline passed in a cohort that escalates instead of deeming approved.
    escalated_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    decided_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    allowed_uses: so.Mapped[list[str] | None] = so.mapped_column(sa.JSON)
    #: Optimistic lock: a decision made on a stale copy fails instead of overwriting.
    version: so.Mapped[int] = so.mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    artist: so.Mapped[User] = so.relationship(foreign_keys=[artist_id])
    cohort: so.Mapped[Cohort] = so.relationship()
    terms: so.Mapped[Terms] = so.relationship()
    claimed_by: so.Mapped[User | None] = so.relationship(foreign_keys=[claimed_by_id])
    decisions: so.Mapped[list[Decision]] = so.relationship(
        back_populates="submission", order_by="Decision.id"
    )
    appeal: so.Mapped[Appeal | None] = so.relationship(back_populates="submission")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def is_approved(self) -> bool:
        return self.status in APPROVED_STATES

    def is_overdue(self, now: dt.datetime) -> bool:
        return self.due_at is not None and self.is_open and self.due_at <= now


class Decision(db.Model):
    """One reviewer outcome on one revision (or the system's deemed approval)."""

    __tablename__ = "review_decisions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    submission_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("submissions.id"), index=True)
    revision: so.Mapped[int]
    #: None for the system (deemed approval).
    reviewer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(32))
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=DecisionState.FINAL)
    reason: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    #: Clause codes of the submission's terms version.
    clauses: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    allowed_uses: so.Mapped[list[str] | None] = so.mapped_column(sa.JSON)
    decided_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: The second staff member of the two-person rule.
    confirmed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    confirmed_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    confirm_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    submission: so.Mapped[Submission] = so.relationship(back_populates="decisions")
    reviewer: so.Mapped[User | None] = so.relationship(foreign_keys=[reviewer_id])
    confirmed_by: so.Mapped[User | None] = so.relationship(foreign_keys=[confirmed_by_id])


class Appeal(db.Model):
    """The artist's one appeal of a rejection, decided by someone who took no part in it."""

    __tablename__ = "appeals"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    submission_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("submissions.id"), unique=True)
    statement: so.Mapped[str] = so.mapped_column(sa.Text)
    filed_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    decided_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)

    submission: so.Mapped[Submission] = so.relationship(back_populates="appeal")
    decided_by: so.Mapped[User | None] = so.relationship()

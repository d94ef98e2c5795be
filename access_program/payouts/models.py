"""Stripe Connect payout accounts, payout runs, payouts and received webhooks (SPEC §3.9)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.accounts.models import User
from access_program.cohorts.models import Cohort
from access_program.db import UTCDateTime, db, utcnow


class PayoutAccount(db.Model):
    """An artist's Stripe Express connected account. Readiness comes from account.updated."""

    __tablename__ = "payout_accounts"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    artist_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), unique=True)
    stripe_account_id: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    payouts_enabled: so.Mapped[bool] = so.mapped_column(default=False)
    details_submitted: so.Mapped[bool] = so.mapped_column(default=False)
    transfers_capability: so.Mapped[str] = so.mapped_column(sa.String(16), default="inactive")
    disabled_reason: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    #: The Stripe ``created`` time of the newest account.updated applied (older ones are ignored).
    status_as_of: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    artist: so.Mapped[User] = so.relationship()

    @property
    def is_ready(self) -> bool:
        return self.payouts_enabled and self.transfers_capability == "active"


class RunStatus(StrEnum):
    PREVIEW = "preview"
    EXECUTING = "executing"
    FINISHED = "finished"
    #: Withdrawn before it was executed: nothing was sent, its payouts are cancelled.
    CANCELLED = "cancelled"


class PayoutStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    PAID = "paid"
    FAILED = "failed"
    REVERSED = "reversed"
    #: Its run was cancelled before execution: never sent, nothing debited.
    CANCELLED = "cancelled"


PAYOUT_TRANSITIONS: dict[PayoutStatus, set[PayoutStatus]] = {
    PayoutStatus.PENDING: {PayoutStatus.SUBMITTED, PayoutStatus.FAILED, PayoutStatus.CANCELLED},
    PayoutStatus.SUBMITTED: {PayoutStatus.PAID, PayoutStatus.FAILED},
    PayoutStatus.PAID: {PayoutStatus.REVERSED},
    PayoutStatus.FAILED: set(),
    PayoutStatus.REVERSED: set(),
    PayoutStatus.CANCELLED: set(),
}


class PayoutRun(db.Model):
    __tablename__ = "payout_runs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: None: every cohort.
    cohort_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("cohorts.id"))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=RunStatus.PREVIEW)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    executed_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    #: When it finished, or was cancelled.
    finished_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    #: The preview as shown: each artist's payable amount or why they are blocked.
    preview: so.Mapped[list[dict[str, Any]]] = so.mapped_column(sa.JSON, default=list)

    cohort: so.Mapped[Cohort | None] = so.relationship()
    payouts: so.Mapped[list[Payout]] = so.relationship(back_populates="run", order_by="Payout.id")


class Payout(db.Model):
    """One transfer to one artist. Its idempotency key is fixed at creation and never changes."""

    __tablename__ = "payouts"
    __table_args__ = (
        sa.CheckConstraint("amount_minor > 0", name="amount_positive"),
        # An artist has at most one payout in flight, whatever the run.
        sa.Index(
            "uq_payouts_one_open_per_artist",
            "artist_id",
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'submitted')"),
            postgresql_where=sa.text("status IN ('pending', 'submitted')"),
        ),
        sa.Index("ix_payouts_run_status", "run_id", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    run_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("payout_runs.id"))
    artist_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    destination: so.Mapped[str] = so.mapped_column(sa.String(64))
    amount_minor: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=PayoutStatus.PENDING)
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    transfer_group: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    transfer_id: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    #: Whole balance regardless of the minimum: the artist has left the program.
    settlement: so.Mapped[bool] = so.mapped_column(default=False)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    failure_message: so.Mapped[str | None] = so.mapped_column(sa.Text)
    #: Lease so that two executors never call Stripe for the same payout at once.
    lease_until: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    submitted_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    paid_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    failed_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    reversed_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    amount_reversed: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)

    run: so.Mapped[PayoutRun] = so.relationship(back_populates="payouts")
    artist: so.Mapped[User] = so.relationship()


class WebhookEvent(db.Model):
    """Every Stripe event received, stored once by its id in the transaction of its effect."""

    __tablename__ = "webhook_events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    stripe_event_id: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    type: so.Mapped[str] = so.mapped_column(sa.String(100), index=True)
    account: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    payload: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    received_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: What handling it did ("account updated", "ignored: unknown type", …).
    outcome: so.Mapped[str] = so.mapped_column(sa.String(200), default="")

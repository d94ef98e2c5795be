"""Tests of contributions, the ledger, statements and the data export.

Helpers here build preconditions that the factories do not cover: members whose terms were
accepted on a given day (the rate card depends on it), a move to new terms, payouts in a state.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.cohorts.models import Membership, Terms, TermsAcceptance
from access_program.compensation.models import Contribution, FeedbackSession, LedgerEntry
from access_program.db import db, utcnow
from access_program.outbox.models import OutboxMessage
from access_program.payouts.models import Payout, PayoutRun
from tests.factories import CohortFactory, MembershipFactory, TermsFactory


def days_ago(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


def terms_with(**rates: int | str) -> Terms:
    """Published terms whose rate card has these rates (the factory's defaults otherwise)."""
    return TermsFactory(**{f"rate_card__{name}": value for name, value in rates.items()})


def member(accepted_days_ago: int = 90, **rates: int | str) -> Membership:
    """An active member of an open cohort who accepted its terms ``accepted_days_ago`` days ago;
    ``rates`` override the rate card."""
    membership = MembershipFactory(cohort=CohortFactory(terms=terms_with(**rates)))
    acceptance = db.session.scalar(
        sa.select(TermsAcceptance).where(TermsAcceptance.membership_id == membership.id)
    )
    acceptance.accepted_at = days_ago(accepted_days_ago)
    membership.joined_at = days_ago(accepted_days_ago)
    db.session.flush()
    return membership


def move_to_new_terms(membership: Membership, accepted_days_ago: int, **rates) -> Terms:
    """The cohort moves to new terms, which the member accepted ``accepted_days_ago`` days ago."""
    terms = terms_with(**rates)
    membership.cohort.terms = terms
    membership.accepted_terms = terms
    db.session.add(
        TermsAcceptance(
            membership_id=membership.id,
            user_id=membership.user_id,
            terms_id=terms.id,
            accepted_at=days_ago(accepted_days_ago),
        )
    )
    db.session.flush()
    return terms


def events_since(seq: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        )
    )


def actions_for(seq: int) -> list[tuple[str, int | None]]:
    """(action, artist_id) of every event since ``seq``."""
    return [(e.action, e.artist_id) for e in events_since(seq)]


def entries_of(artist_id: int) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.artist_id == artist_id)
            .order_by(LedgerEntry.id)
        )
    )


def outbox_for(user_id: int) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.user_id == user_id)
            .order_by(OutboxMessage.id)
        )
    )


def row_counts() -> dict[str, int]:
    """How many rows each table a compensation change may write holds."""
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Contribution, FeedbackSession, LedgerEntry, OutboxMessage, AuditEvent)
    }


def make_payout(artist_id: int, amount_minor: int, status: str = "submitted", **fields) -> Payout:
    """A payout in a given state, in a run of its own (the payouts domain makes real ones)."""
    run = PayoutRun(status="executing")
    db.session.add(run)
    db.session.flush()
    key = uuid.uuid4().hex
    payout = Payout(
        run_id=run.id,
        artist_id=artist_id,
        destination="acct_test",
        amount_minor=amount_minor,
        currency="USD",
        status=status,
        idempotency_key=f"payout-{key}",
        transfer_group=f"group-{key}",
        **fields,
    )
    db.session.add(payout)
    db.session.flush()
    return payout

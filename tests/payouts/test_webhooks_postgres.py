"""Webhooks delivered many times at once (PostgreSQL): each thread has its own app context,
session, connection and test client; the events are the emulator's own, signed as Stripe does.

Whatever the interleaving: exactly one stored event per id, one effect, every answer 200.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from access_program.accounts import service as accounts
from access_program.audit.service import Actor
from access_program.compensation.models import EntryKind, LedgerEntry
from access_program.outbox.models import OutboxMessage
from access_program.payouts.emulator import EmulatorServer
from access_program.payouts.models import Payout, PayoutAccount, WebhookEvent
from tests.factories import UserFactory
from tests.helpers import at_once, audit_count

from .conftest import WEBHOOK_SECRET
from .test_webhooks import AMOUNT, onboarded_account, paid_payout, reversal_event, sign

pytestmark = pytest.mark.postgres

URL = "/webhooks/stripe"
COPIES = 10


@pytest.fixture
def stripe_app(app: Flask, stripe_emulator: EmulatorServer) -> Iterator[Flask]:
    names = ("STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "STRIPE_MAX_RETRIES")
    saved = {name: app.config[name] for name in names}
    app.config.update(
        STRIPE_API_BASE=stripe_emulator.url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_MAX_RETRIES=0,
    )
    yield app
    app.config.update(saved)


def delivery(app: Flask, body: bytes, signature: str) -> Callable[[], tuple[int, dict]]:
    def call() -> tuple[int, dict]:
        response = app.test_client().post(
            URL,
            data=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        return response.status_code, response.get_json()

    return call


def statuses(results: list[object]) -> list[int]:
    assert all(isinstance(r, tuple) for r in results), results
    return [status for status, _ in results]


def count(db, model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_the_same_account_updated_delivered_10_times_at_once_has_one_effect(
    app, committed_db, stripe_app, stripe_client, stripe_emulator
):
    db = committed_db
    account, event = onboarded_account(stripe_client, stripe_emulator, UserFactory())
    account_id = account.id
    db.session.commit()
    body, signature = sign(event)

    results = at_once(app, [delivery(app, body, signature) for _ in range(COPIES)])

    assert statuses(results) == [200] * COPIES
    assert sorted(b["duplicate"] for _, b in results) == [False] + [True] * (COPIES - 1)
    db.session.expire_all()
    assert count(db, WebhookEvent, WebhookEvent.stripe_event_id == event["id"]) == 1
    assert audit_count("payout_account.updated") == 1
    assert db.session.get(PayoutAccount, account_id).is_ready


def test_the_same_transfer_reversed_delivered_10_times_at_once_credits_once(
    app, committed_db, stripe_app, stripe_client, stripe_emulator
):
    db = committed_db
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    payout_id, artist_id = payout.id, payout.artist_id
    event = reversal_event(stripe_emulator, transfer_id)
    db.session.commit()
    body, signature = sign(event)

    results = at_once(app, [delivery(app, body, signature) for _ in range(COPIES)])

    assert statuses(results) == [200] * COPIES
    db.session.expire_all()
    assert count(db, WebhookEvent) == 1
    credits = db.session.scalars(
        sa.select(LedgerEntry.amount_minor).where(
            LedgerEntry.payout_id == payout_id, LedgerEntry.kind == EntryKind.PAYOUT_REVERSAL
        )
    ).all()
    assert credits == [AMOUNT]
    payout = db.session.get(Payout, payout_id)
    assert (payout.status, payout.amount_reversed) == ("reversed", AMOUNT)
    assert audit_count("payout.reversed") == 1
    assert count(db, OutboxMessage, OutboxMessage.user_id == artist_id) == 1


def test_two_partial_reversals_delivered_5_times_each_at_once_credit_the_total_once(
    app, committed_db, stripe_app, stripe_client, stripe_emulator
):
    """Stripe reversed 400, then the remaining 600: the events (cumulative 400 and 1000) race
    with their duplicates. Whichever comes first, 1000 is credited in all, once."""
    db = committed_db
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator, amount=1000)
    payout_id, artist_id = payout.id, payout.artist_id
    partial = reversal_event(stripe_emulator, transfer_id, 400)
    rest = reversal_event(stripe_emulator, transfer_id, 600)
    db.session.commit()
    calls = [delivery(app, *sign(e)) for e in [partial, rest] * 5]

    results = at_once(app, calls)

    assert statuses(results) == [200] * 10
    db.session.expire_all()
    assert count(db, WebhookEvent) == 2
    credits = db.session.execute(
        sa.select(LedgerEntry.amount_minor, LedgerEntry.reversed_through)
        .where(LedgerEntry.payout_id == payout_id, LedgerEntry.kind == EntryKind.PAYOUT_REVERSAL)
        .order_by(LedgerEntry.id)
    ).all()
    assert [tuple(c) for c in credits] in ([(400, 400), (600, 1000)], [(1000, 1000)])
    payout = db.session.get(Payout, payout_id)
    assert (payout.status, payout.amount_reversed) == ("reversed", 1000)
    assert audit_count("payout.reversed") == len(credits)
    assert count(db, OutboxMessage, OutboxMessage.user_id == artist_id) == len(credits)


def test_reversal_and_account_updated_racing_with_their_duplicates_reach_the_right_state(
    app, committed_db, stripe_app, stripe_client, stripe_emulator
):
    """The run crashed before recording the payout paid; Stripe then sends the account's
    update and the reversal, each five times, all at once."""
    db = committed_db
    payout, transfer_id, account_updated = paid_payout(
        stripe_client, stripe_emulator, submitted=True
    )
    payout_id = payout.id
    reversed_event = reversal_event(stripe_emulator, transfer_id)
    db.session.commit()
    calls = [delivery(app, *sign(e)) for e in [account_updated, reversed_event] * 5]

    results = at_once(app, calls)

    assert statuses(results) == [200] * 10
    db.session.expire_all()
    assert count(db, WebhookEvent) == 2
    payout = db.session.get(Payout, payout_id)
    assert (payout.status, payout.transfer_id) == ("reversed", transfer_id)
    amounts = db.session.scalars(
        sa.select(LedgerEntry.amount_minor)
        .where(LedgerEntry.payout_id == payout_id)
        .order_by(LedgerEntry.id)
    ).all()
    assert amounts == [-AMOUNT, AMOUNT]
    assert audit_count("payout.paid") == audit_count("payout.reversed") == 1
    assert audit_count("payout_account.updated") == 1
    account = db.session.scalar(
        sa.select(PayoutAccount).where(PayoutAccount.artist_id == payout.artist_id)
    )
    assert account.is_ready


def test_two_set_up_clicks_at_once_make_one_stripe_account(
    app, committed_db, stripe_app, stripe_client
):
    db = committed_db
    app.config["STRIPE_MAX_RETRIES"] = 2  # the SDK retries Stripe's 409 for a key in flight
    artist = UserFactory()
    artist_id, email = artist.id, artist.email
    token = accounts.create_token(Actor.system("test"), user=artist)[1]
    db.session.commit()

    def set_up() -> tuple[int, dict]:
        response = app.test_client().post(
            "/api/v1/me/payout-account", headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code, response.get_json()

    results = at_once(app, [set_up, set_up])

    assert statuses(results) == [200, 200], results
    db.session.expire_all()
    (account,) = db.session.scalars(
        sa.select(PayoutAccount).where(PayoutAccount.artist_id == artist_id)
    ).all()
    assert stripe_client.v1.accounts.retrieve(account.stripe_account_id).email == email
    assert audit_count("payout_account.created") == 1

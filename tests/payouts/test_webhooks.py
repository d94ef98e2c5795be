"""POST /webhooks/stripe with the emulator's own events, signed as Stripe signs them.

The events come from the Stripe emulator (driven over HTTP with the real ``stripe`` client) and
are delivered to the app through the Flask test client: the raw bodies and headers the emulator
posted (``webhook_receiver``), or the emulator's event log signed with the webhook secret.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask

from access_program.audit.models import AuditEvent
from access_program.compensation import service as compensation
from access_program.compensation.models import EntryKind, LedgerEntry
from access_program.outbox.models import OutboxMessage
from access_program.payouts.emulator import EmulatorServer, signature_header
from access_program.payouts.models import Payout, PayoutAccount, WebhookEvent
from tests.factories import PayoutAccountFactory, PayoutFactory, UserFactory
from tests.helpers import audit_actions_since, audit_count, audit_head_seq

from .conftest import WEBHOOK_SECRET, WebhookReceiver

URL = "/webhooks/stripe"
AMOUNT = 5000


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


# --- helpers ---------------------------------------------------------------------------------


def sign(event: dict[str, Any], *, timestamp: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(event, indent=2).encode()
    return body, signature_header(body, WEBHOOK_SECRET, timestamp)


def post(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(URL, data=body, headers=headers)


def deliver(client, event: dict[str, Any]):
    return post(client, *sign(event))


def events_of(emulator: EmulatorServer, event_type: str) -> list[dict[str, Any]]:
    return [e for e in emulator.emulator.events() if e["type"] == event_type]


def stored_events(db) -> list[WebhookEvent]:
    return list(db.session.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.id)))


def onboarded_account(stripe_client: stripe.StripeClient, emulator: EmulatorServer, artist):
    """A Stripe account we know of (not yet ready here); the emulator completes its onboarding
    and records (but we do not deliver) the account.updated event. Returns the row and event."""
    created = stripe_client.v1.accounts.create(
        params={
            "type": "express",
            "email": artist.email,
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    account = PayoutAccountFactory(artist=artist, stripe_account_id=created.id)
    emulator.emulator.complete_onboarding(created.id)
    (event,) = [e for e in events_of(emulator, "account.updated") if e["account"] == created.id]
    return account, event


def paid_payout(stripe_client, emulator, *, submitted: bool = False, amount: int = AMOUNT):
    """A payout that Stripe made as a transfer: recorded paid with its ledger debit, or (when
    ``submitted``) left submitted as after a crash before the answer was recorded."""
    artist = UserFactory()
    account, updated = onboarded_account(stripe_client, emulator, artist)
    payout = PayoutFactory(
        artist=artist, destination=account.stripe_account_id, amount_minor=amount
    )
    transfer = stripe_client.v1.transfers.create(
        params={
            "amount": amount,
            "currency": "usd",
            "destination": account.stripe_account_id,
            "transfer_group": payout.transfer_group,
            "metadata": {"payout_id": str(payout.id)},
        },
        options={"idempotency_key": payout.idempotency_key},
    )
    if not submitted:
        payout.status, payout.transfer_id = "paid", transfer.id
        compensation.post_payout_debit(payout)
    return payout, transfer.id, updated


def reversal_event(emulator, transfer_id: str, amount: int | None = None) -> dict[str, Any]:
    emulator.emulator.reverse_transfer(transfer_id, amount)
    return [
        e
        for e in events_of(emulator, "transfer.reversed")
        if e["data"]["object"]["id"] == transfer_id
    ][-1]


def entries(payout: Payout, kind: EntryKind) -> list[LedgerEntry]:
    return list(
        compensation.db.session.scalars(
            sa.select(LedgerEntry)
            .where(LedgerEntry.payout_id == payout.id, LedgerEntry.kind == kind)
            .order_by(LedgerEntry.id)
        )
    )


def reversals(payout: Payout) -> list[tuple[int, int | None]]:
    """The payout's reversal entries as (amount credited, cumulative total reversed)."""
    return [
        (e.amount_minor, e.reversed_through) for e in entries(payout, EntryKind.PAYOUT_REVERSAL)
    ]


def reversed_audit(payout: Payout) -> list[dict[str, Any]]:
    return [
        e.data
        for e in compensation.db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "payout.reversed", AuditEvent.subject_id == str(payout.id))
            .order_by(AuditEvent.seq)
        )
    ]


def emails_to(user_id: int) -> list[OutboxMessage]:
    return list(
        compensation.db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.user_id == user_id)
        )
    )


# --- signature -------------------------------------------------------------------------------


def _tampered(body: bytes, signature: str) -> tuple[bytes, str]:
    return body.replace(b'"livemode": false', b'"livemode": true'), signature


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body, sig: (body, None), id="missing-header"),
        pytest.param(lambda body, sig: (body, ""), id="empty-header"),
        pytest.param(
            lambda body, sig: (body, signature_header(body, "whsec_someone_else")),
            id="wrong-secret",
        ),
        pytest.param(_tampered, id="body-changed-after-signing"),
        pytest.param(lambda body, sig: (body, "t=abc,v1=zz"), id="garbled-header"),
        pytest.param(lambda body, sig: (body, sig.split(",")[0]), id="no-v1"),
        pytest.param(lambda body, sig: (body, sig + "é"), id="non-ascii-header"),
        pytest.param(
            lambda body, sig: (
                body,
                signature_header(body, WEBHOOK_SECRET, int(time.time()) - 301),
            ),
            id="stale-timestamp",
        ),
    ],
)
def test_a_bad_signature_is_400_and_nothing_is_stored(
    db, stripe_app, stripe_client, stripe_emulator, client, forge
):
    artist = UserFactory()
    account, event = onboarded_account(stripe_client, stripe_emulator, artist)
    seq = audit_head_seq()

    response = post(client, *forge(*sign(event)))

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_signature"
    assert stored_events(db) == []
    assert audit_actions_since(seq) == []
    assert not account.is_ready


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe", b"[1, 2]", b'{"id": "evt_1"}', b'{"id": "evt_1", "type": "x"}'],
    ids=["not-json", "not-utf8", "a-list", "no-type", "no-data"],
)
def test_a_signed_body_that_is_not_an_event_is_400(db, stripe_app, client, body):
    response = post(client, body, signature_header(body, WEBHOOK_SECRET))

    assert response.status_code == 400
    assert stored_events(db) == []


def test_the_emulators_own_delivery_verifies_and_its_event_is_stored_by_id(
    db, stripe_app, stripe_client, stripe_emulator, webhook_receiver: WebhookReceiver, client
):
    artist = UserFactory()
    account, event = onboarded_account(stripe_client, stripe_emulator, artist)
    (delivery,) = webhook_receiver.wait_for("account.updated")

    response = post(client, delivery.body, delivery.signature)

    assert response.status_code == 200
    assert response.get_json() == {
        "received": True,
        "duplicate": False,
        "outcome": "account updated: ready",
    }
    (stored,) = stored_events(db)
    assert (stored.stripe_event_id, stored.type, stored.account) == (
        event["id"],
        "account.updated",
        account.stripe_account_id,
    )
    assert stored.payload == json.loads(delivery.body)
    assert account.is_ready


# --- duplicates and unknowns -----------------------------------------------------------------


def test_the_same_event_delivered_20_times_has_one_effect(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    artist = UserFactory()
    account, event = onboarded_account(stripe_client, stripe_emulator, artist)
    body, signature = sign(event)
    seq = audit_head_seq()

    responses = [post(client, body, signature) for _ in range(20)]

    assert [r.status_code for r in responses] == [200] * 20
    assert [r.get_json()["duplicate"] for r in responses] == [False] + [True] * 19
    assert responses[1].get_json() == {"received": True, "duplicate": True}
    assert len(stored_events(db)) == 1
    assert audit_actions_since(seq) == ["payout_account.updated"]
    assert account.is_ready


def test_an_unknown_event_type_is_stored_and_acknowledged(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    # The emulator announces each transfer with transfer.created, which the app does not use.
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    (created,) = events_of(stripe_emulator, "transfer.created")
    seq = audit_head_seq()

    response = deliver(client, created)

    assert response.status_code == 200
    assert response.get_json()["outcome"] == "ignored: unknown type"
    (stored,) = stored_events(db)
    assert (stored.type, stored.outcome) == ("transfer.created", "ignored: unknown type")
    assert audit_actions_since(seq) == []
    assert deliver(client, created).get_json()["duplicate"] is True


def test_account_updated_for_an_account_we_do_not_know_is_stored_and_ignored(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    account, event = onboarded_account(stripe_client, stripe_emulator, UserFactory())
    db.session.delete(account)
    db.session.flush()

    response = deliver(client, event)

    assert response.status_code == 200
    (stored,) = stored_events(db)
    assert stored.outcome == "ignored: unknown account"
    assert audit_count("payout_account.updated") == 0


def test_transfer_reversed_for_a_transfer_we_do_not_know_is_stored_and_ignored(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    event = reversal_event(stripe_emulator, transfer_id)
    event = copy.deepcopy(event)
    event["data"]["object"]["id"] = "tr_unknown000000000000000"
    event["data"]["object"]["transfer_group"] = "someone-elses-group"

    response = deliver(client, event)

    assert response.status_code == 200
    assert stored_events(db)[0].outcome == "ignored: unknown transfer"
    assert payout.status == "paid" and entries(payout, EntryKind.PAYOUT_REVERSAL) == []


# --- account.updated: order ------------------------------------------------------------------


def _older(event: dict[str, Any], seconds: int, **fields: Any) -> dict[str, Any]:
    """An earlier account.updated for the same account (Stripe's delivery order is not kept)."""
    older = copy.deepcopy(event)
    older["id"] = event["id"] + "old"
    older["created"] = event["created"] - seconds
    older["data"]["object"].update(fields)
    return older


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
def test_account_status_is_the_newest_event_whatever_the_arrival_order(
    db, stripe_app, stripe_client, stripe_emulator, client, api_client, newest_first
):
    artist = UserFactory()
    account, ready = onboarded_account(stripe_client, stripe_emulator, artist)
    pending = _older(
        ready,
        30,
        payouts_enabled=False,
        details_submitted=False,
        capabilities={"transfers": "inactive"},
        requirements={"disabled_reason": "requirements.past_due"},
    )
    order = [ready, pending] if newest_first else [pending, ready]

    responses = [deliver(client, event) for event in order]

    assert [r.status_code for r in responses] == [200, 200]
    assert api_client(artist).get("/api/v1/me/payout-account").get_json() == {
        "status": "ready",
        "payouts_enabled": True,
        "details_submitted": True,
        "disabled_reason": None,
    }
    assert account.status_as_of == ready["created"]
    outcomes = {e.stripe_event_id: e.outcome for e in stored_events(db)}
    if newest_first:
        assert outcomes[pending["id"]] == "ignored: older than the status we hold"
        assert audit_count("payout_account.updated") == 1
    else:
        assert audit_count("payout_account.updated") == 2


def test_a_newer_account_updated_can_disable_payouts_again(
    db, stripe_app, stripe_client, stripe_emulator, client, api_client
):
    artist = UserFactory()
    account, ready = onboarded_account(stripe_client, stripe_emulator, artist)
    deliver(client, ready)
    disabled = copy.deepcopy(ready)
    disabled["id"] += "later"
    disabled["created"] += 60
    disabled["data"]["object"]["payouts_enabled"] = False
    disabled["data"]["object"]["requirements"]["disabled_reason"] = "rejected.fraud"

    deliver(client, disabled)

    body = api_client(artist).get("/api/v1/me/payout-account").get_json()
    assert (body["status"], body["payouts_enabled"], body["disabled_reason"]) == (
        "onboarding",
        False,
        "rejected.fraud",
    )


# --- transfer.reversed -----------------------------------------------------------------------


def test_a_reversal_credits_the_amount_back_once_and_marks_the_payout_reversed(
    db, stripe_app, stripe_client, stripe_emulator, webhook_receiver: WebhookReceiver, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    before, _ = compensation.balance(payout.artist_id)
    seq = audit_head_seq()
    stripe_emulator.emulator.reverse_transfer(transfer_id)
    (delivery,) = webhook_receiver.wait_for("transfer.reversed")

    responses = [post(client, delivery.body, delivery.signature) for _ in range(3)]

    assert [r.status_code for r in responses] == [200] * 3
    assert responses[0].get_json()["outcome"] == "payout reversed"
    assert (payout.status, payout.amount_reversed) == ("reversed", AMOUNT)
    assert payout.reversed_at is not None
    (entry,) = entries(payout, EntryKind.PAYOUT_REVERSAL)
    assert entry.amount_minor == AMOUNT
    assert compensation.balance(payout.artist_id)[0] == before + AMOUNT
    (event,) = compensation.db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq > seq)
    ).all()
    assert (event.action, event.artist_id) == ("payout.reversed", payout.artist_id)
    assert event.data["credited_minor"] == AMOUNT and event.data["transfer_id"] == transfer_id
    (email,) = emails_to(payout.artist_id)
    assert "reversed" in email.subject and transfer_id in email.body


def test_distinct_events_for_the_same_reversal_credit_once(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    event = reversal_event(stripe_emulator, transfer_id)
    resent = copy.deepcopy(event)
    resent["id"] += "again"

    deliver(client, event)
    second = deliver(client, resent)

    assert second.get_json()["outcome"] == "reversal already applied"
    assert [e.amount_minor for e in entries(payout, EntryKind.PAYOUT_REVERSAL)] == [AMOUNT]
    assert audit_count("payout.reversed") == 1
    assert len(emails_to(payout.artist_id)) == 1


def test_a_partial_reversal_credits_its_amount_and_leaves_the_payout_paid(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)

    response = deliver(client, reversal_event(stripe_emulator, transfer_id, 2000))

    assert response.get_json()["outcome"] == "payout partly reversed"
    assert (payout.status, payout.amount_reversed) == ("paid", 2000)
    assert [e.amount_minor for e in entries(payout, EntryKind.PAYOUT_REVERSAL)] == [2000]


def test_an_older_partial_reversal_arriving_after_the_full_one_changes_nothing(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    partial = reversal_event(stripe_emulator, transfer_id, 2000)
    full = reversal_event(stripe_emulator, transfer_id)

    deliver(client, full)
    late = deliver(client, partial)

    assert late.get_json()["outcome"] == "reversal already applied"
    assert (payout.status, payout.amount_reversed) == ("reversed", AMOUNT)
    assert [e.amount_minor for e in entries(payout, EntryKind.PAYOUT_REVERSAL)] == [AMOUNT]


def test_two_partial_reversals_credit_each_part_once_and_end_reversed(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator, amount=1000)
    before, _ = compensation.balance(payout.artist_id)

    first = deliver(client, reversal_event(stripe_emulator, transfer_id, 400))
    assert first.get_json()["outcome"] == "payout partly reversed"
    assert (payout.status, payout.amount_reversed) == ("paid", 400)
    second = deliver(client, reversal_event(stripe_emulator, transfer_id, 600))

    assert second.get_json()["outcome"] == "payout reversed"
    assert (payout.status, payout.amount_reversed) == ("reversed", 1000)
    assert payout.reversed_at is not None
    assert reversals(payout) == [(400, 400), (600, 1000)]
    assert compensation.balance(payout.artist_id)[0] == before + 1000
    audit_data = reversed_audit(payout)
    assert [(d["credited_minor"], d["amount_reversed"]) for d in audit_data] == [
        (400, 400),
        (600, 1000),
    ]
    assert [d["fully_reversed"] for d in audit_data] == [False, True]
    assert [m.kind for m in emails_to(payout.artist_id)] == ["payout.reversed"] * 2


@pytest.mark.parametrize("order", [(0, 1), (1, 0), (1, 0, 1, 0), (0, 0, 1, 1)])
def test_partial_reversals_in_any_order_credit_the_total_once(
    db, stripe_app, stripe_client, stripe_emulator, client, order
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator, amount=1000)
    before, _ = compensation.balance(payout.artist_id)
    # Stripe's events carry the transfer's cumulative amount_reversed: 400, then 1000.
    events = [
        reversal_event(stripe_emulator, transfer_id, 400),
        reversal_event(stripe_emulator, transfer_id, 600),
    ]
    assert [e["data"]["object"]["amount_reversed"] for e in events] == [400, 1000]

    responses = [deliver(client, events[i]) for i in order]

    assert all(r.status_code == 200 for r in responses)
    assert (payout.status, payout.amount_reversed) == ("reversed", 1000)
    assert compensation.balance(payout.artist_id)[0] == before + 1000
    expected = [(400, 400), (600, 1000)] if order[0] == 0 else [(1000, 1000)]
    assert reversals(payout) == expected
    assert len(reversed_audit(payout)) == len(expected) == len(emails_to(payout.artist_id))
    assert len(stored_events(db)) == 2


def test_the_full_reversal_arriving_before_the_partial_one_credits_1000_once(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator, amount=1000)
    partial = reversal_event(stripe_emulator, transfer_id, 400)
    full = reversal_event(stripe_emulator, transfer_id, 600)
    seq = audit_head_seq()

    early = deliver(client, full)
    late = deliver(client, partial)

    assert early.get_json()["outcome"] == "payout reversed"
    assert late.get_json()["outcome"] == "reversal already applied"
    assert (payout.status, payout.amount_reversed) == ("reversed", 1000)
    assert reversals(payout) == [(1000, 1000)]
    assert audit_actions_since(seq) == ["payout.reversed"]
    assert reversed_audit(payout)[0]["credited_minor"] == 1000


def test_the_same_partial_reversal_delivered_twice_credits_once(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator, amount=1000)
    event = reversal_event(stripe_emulator, transfer_id, 400)
    resent = copy.deepcopy(event)
    resent["id"] += "again"

    outcomes = [deliver(client, e).get_json() for e in (event, event, resent)]

    assert outcomes[0]["outcome"] == "payout partly reversed"
    assert outcomes[1]["duplicate"] is True
    assert outcomes[2]["outcome"] == "reversal already applied"
    assert (payout.status, payout.amount_reversed) == ("paid", 400)
    assert reversals(payout) == [(400, 400)]
    assert len(reversed_audit(payout)) == len(emails_to(payout.artist_id)) == 1


def test_a_reversal_of_a_payout_left_submitted_records_it_paid_then_reversed(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    # The run crashed after Stripe made the transfer and before it recorded the payout paid.
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator, submitted=True)
    before, _ = compensation.balance(payout.artist_id)
    seq = audit_head_seq()

    response = deliver(client, reversal_event(stripe_emulator, transfer_id))

    assert response.get_json()["outcome"] == "payout recorded paid; payout reversed"
    assert (payout.status, payout.transfer_id, payout.amount_reversed) == (
        "reversed",
        transfer_id,
        AMOUNT,
    )
    assert [e.amount_minor for e in entries(payout, EntryKind.PAYOUT)] == [-AMOUNT]
    assert [e.amount_minor for e in entries(payout, EntryKind.PAYOUT_REVERSAL)] == [AMOUNT]
    assert compensation.balance(payout.artist_id)[0] == before
    assert audit_actions_since(seq) == ["payout.paid", "payout.reversed"]
    assert [m.kind for m in emails_to(payout.artist_id)] == ["payout.paid", "payout.reversed"]


@pytest.mark.parametrize(
    "order",
    [
        ("reversed", "account"),
        ("account", "reversed"),
        ("reversed", "reversed", "account", "account"),
        ("account", "reversed", "account", "reversed"),
    ],
    ids=lambda order: "-".join(order),
)
def test_reversal_and_account_updated_in_any_order_reach_the_same_final_state(
    db, stripe_app, stripe_client, stripe_emulator, client, order
):
    payout, transfer_id, account_updated = paid_payout(stripe_client, stripe_emulator)
    # Our copy of the account is still "onboarding": account.updated has not arrived yet.
    account = db.session.scalar(
        sa.select(PayoutAccount).where(PayoutAccount.artist_id == payout.artist_id)
    )
    events = {"reversed": reversal_event(stripe_emulator, transfer_id), "account": account_updated}

    responses = [deliver(client, events[name]) for name in order]

    assert all(r.status_code == 200 for r in responses)
    assert account.is_ready and account.status_as_of == account_updated["created"]
    assert (payout.status, payout.amount_reversed) == ("reversed", AMOUNT)
    assert [e.amount_minor for e in entries(payout, EntryKind.PAYOUT_REVERSAL)] == [AMOUNT]
    assert audit_count("payout.reversed") == audit_count("payout_account.updated") == 1
    assert len(stored_events(db)) == 2


def test_a_reversal_that_does_not_match_the_payout_is_kept_but_not_applied(
    db, stripe_app, stripe_client, stripe_emulator, client
):
    payout, transfer_id, _ = paid_payout(stripe_client, stripe_emulator)
    event = copy.deepcopy(reversal_event(stripe_emulator, transfer_id))
    event["data"]["object"]["amount"] = AMOUNT * 10

    response = deliver(client, event)

    assert response.status_code == 200
    assert response.get_json()["outcome"].startswith("not applied: transfer does not match")
    assert payout.status == "paid" and entries(payout, EntryKind.PAYOUT_REVERSAL) == []

"""POST /webhooks/stripe: verified, stored once by event id, handled in the same transaction.

Stripe delivers at least once and in any order, possibly the same event several times at once.
So each event is stored by its id under a unique constraint in the transaction of its effect (a
second delivery finds it, or waits on the first one's insert and then finds it), and each effect
depends on the state it finds, not on the order of arrival: ``account.updated`` applies only if it
is not older than the status we hold; ``transfer.reversed`` credits only what was not yet credited.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Blueprint, Response, jsonify, request

from access_program import audit
from access_program.audit.service import Actor
from access_program.compensation import service as compensation
from access_program.db import db, utcnow
from access_program.errors import DomainError, error_response
from access_program.outbox.service import queue_email
from access_program.payouts import gateway
from access_program.payouts.models import (
    PAYOUT_TRANSITIONS,
    Payout,
    PayoutAccount,
    PayoutStatus,
    WebhookEvent,
)
from access_program.templating import money

log = logging.getLogger(__name__)

bp = Blueprint("stripe_webhooks", __name__)

SYSTEM = Actor.system("stripe-webhook")
MAX_EVENT_ID = 255
MAX_EVENT_TYPE = 100

IGNORED_UNKNOWN_TYPE = "ignored: unknown type"
IGNORED_UNKNOWN_ACCOUNT = "ignored: unknown account"
IGNORED_UNKNOWN_TRANSFER = "ignored: unknown transfer"


class BadEvent(ValueError):
    """A signed body that is not a Stripe event we can read."""


@dataclass(frozen=True)
class Received:
    event: WebhookEvent
    duplicate: bool


@bp.post("/webhooks/stripe")
def receive() -> Response:
    """Verify the signature on the raw body, then store and handle the event once."""
    payload = request.get_data()
    try:
        gateway.construct_event(payload, request.headers.get("Stripe-Signature", ""))
    except (stripe.SignatureVerificationError, TypeError) as exc:
        # TypeError: a header with non-ASCII characters, which the constant-time compare refuses.
        log.info("webhook refused: %s", exc)
        return error_response(
            400, "bad_signature", "The Stripe-Signature header does not verify this body."
        )
    except (ValueError, AttributeError) as exc:
        # Not UTF-8, not JSON, or JSON that is not an event object.
        log.info("webhook refused: %s", exc)
        return error_response(400, "bad_payload", "The body is not a Stripe event.")
    try:
        event = parse_event(payload)
    except BadEvent as exc:
        log.info("webhook refused: %s", exc)
        return error_response(400, "bad_payload", f"The body is not a Stripe event: {exc}.")
    received = receive_event(event)
    body: dict[str, Any] = {"received": True, "duplicate": received.duplicate}
    if not received.duplicate:
        body["outcome"] = received.event.outcome
    return jsonify(body)


def parse_event(payload: bytes) -> dict[str, Any]:
    """The verified body as a plain dict, with the fields every handler relies on checked."""
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise BadEvent("the body is not a JSON object")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID:
        raise BadEvent("the event has no usable id")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= MAX_EVENT_TYPE:
        raise BadEvent("the event has no usable type")
    if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("object"), dict):
        raise BadEvent("the event has no data.object")
    return event


def _stored(event_id: str) -> WebhookEvent | None:
    query = sa.select(WebhookEvent).where(WebhookEvent.stripe_event_id == event_id)
    return db.session.scalar(query)


def receive_event(event: dict[str, Any]) -> Received:
    """Store a verified event by its id and apply its effect in the same transaction (never
    commits). A second delivery of the same id changes nothing and reports a duplicate, also
    when both arrive at once: the insert of the second waits for the first to commit and then
    fails the unique constraint inside a savepoint. Audit: whatever the handler writes."""
    existing = _stored(event["id"])
    if existing is not None:
        return Received(existing, duplicate=True)
    account = event.get("account")
    row = WebhookEvent(
        stripe_event_id=event["id"],
        type=event["type"],
        account=account[:64] if isinstance(account, str) else None,
        payload=event,
        outcome="",
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:
        existing = _stored(event["id"])
        if existing is None:
            raise
        log.info("Stripe event %s: a concurrent delivery stored it first", event["id"])
        return Received(existing, duplicate=True)
    row.outcome = _handle(event, row)[:200]
    return Received(row, duplicate=False)


def _handle(event: dict[str, Any], row: WebhookEvent) -> str:
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return IGNORED_UNKNOWN_TYPE
    try:
        with db.session.begin_nested():
            return handler(event)
    except DomainError as exc:
        # A deterministic refusal (an amount out of range, say) would fail every retry too:
        # keep the event with the reason for a person to look at, and acknowledge it.
        log.error("Stripe event %s (%s) not applied: %s", row.stripe_event_id, row.type, exc)
        return f"not applied: {exc.message}"


# --- account.updated -----------------------------------------------------------------------


def _text(value: Any, length: int) -> str | None:
    return value[:length] if isinstance(value, str) and value else None


def handle_account_updated(event: dict[str, Any]) -> str:
    """Apply the account's status unless we already hold a newer one. Audit:
    payout_account.updated (when something changed)."""
    obj = event["data"]["object"]
    stripe_account_id = event.get("account") or obj.get("id")
    if not isinstance(stripe_account_id, str):
        return IGNORED_UNKNOWN_ACCOUNT
    account = db.session.scalar(
        sa.select(PayoutAccount)
        .where(PayoutAccount.stripe_account_id == stripe_account_id)
        .with_for_update()
    )
    if account is None:
        return IGNORED_UNKNOWN_ACCOUNT
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int):
        return "ignored: no created time"
    if account.status_as_of is not None and created < account.status_as_of:
        return "ignored: older than the status we hold"
    capabilities = obj.get("capabilities") if isinstance(obj.get("capabilities"), dict) else {}
    requirements = obj.get("requirements") if isinstance(obj.get("requirements"), dict) else {}
    status = {
        "payouts_enabled": obj.get("payouts_enabled") is True,
        "details_submitted": obj.get("details_submitted") is True,
        "transfers_capability": _text(capabilities.get("transfers"), 16) or "inactive",
        "disabled_reason": _text(requirements.get("disabled_reason"), 200),
    }
    changes = {
        name: [getattr(account, name), value]
        for name, value in status.items()
        if getattr(account, name) != value
    }
    account.status_as_of = created
    if not changes:
        return "account unchanged"
    was_ready = account.is_ready
    for name, value in status.items():
        setattr(account, name, value)
    account.updated_at = utcnow()
    audit.record(
        SYSTEM,
        "payout_account.updated",
        "payout_account",
        account.id,
        artist_id=account.artist_id,
        data={
            "stripe_account_id": account.stripe_account_id,
            "event_id": event["id"],
            "changes": changes,
            "ready": account.is_ready,
        },
    )
    if account.is_ready and not was_ready:
        return "account updated: ready"
    return "account updated"


# --- transfer.reversed ---------------------------------------------------------------------


def _payout_for_transfer(transfer: dict[str, Any]) -> Payout | None:
    """The payout by its transfer id or, when we crashed before recording the transfer id, by
    its transfer group (fixed per payout, sent with the transfer)."""
    transfer_id = transfer.get("id")
    if not isinstance(transfer_id, str):
        return None
    # populate_existing: the values read under the lock win over any copy the session holds.
    payout = db.session.scalar(
        sa.select(Payout)
        .where(Payout.transfer_id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    group = transfer.get("transfer_group")
    if payout is None and isinstance(group, str) and group:
        # No "transfer_id IS NULL" in the query: if a payout run is recording this very transfer
        # right now, the row lock makes us wait and we then read the row as it committed it.
        payout = db.session.scalar(
            sa.select(Payout)
            .where(Payout.transfer_group == group)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if payout is not None and payout.transfer_id not in (None, transfer_id):
            return None
    return payout


def _matches(payout: Payout, transfer: dict[str, Any]) -> bool:
    return (
        transfer.get("amount") == payout.amount_minor
        and transfer.get("destination") == payout.destination
        and str(transfer.get("currency", "")).lower() == payout.currency.lower()
    )


def _record_paid(payout: Payout, transfer_id: str, event_id: str) -> None:
    """The transfer exists although we never recorded it (a crash after Stripe answered):
    record the payout paid with its ledger debit and email, as the payout run would have.
    Audit: payout.paid."""
    payout.status = PayoutStatus.PAID
    payout.transfer_id = transfer_id
    payout.paid_at = utcnow()
    payout.lease_until = None
    compensation.post_payout_debit(payout)
    audit.record(
        SYSTEM,
        "payout.paid",
        "payout",
        payout.id,
        artist_id=payout.artist_id,
        data={
            "transfer_id": transfer_id,
            "amount_minor": payout.amount_minor,
            "currency": payout.currency,
            "run_id": payout.run_id,
            "source": f"webhook {event_id}",
        },
    )
    amount = money(payout.amount_minor, payout.currency)
    queue_email(
        "payout.paid",
        payout.artist.email,
        f"Payout sent: {amount}",
        f"We sent {amount} to your Stripe account (transfer {transfer_id}).\n"
        "It appears in your Stripe Express dashboard; your balance with us is reduced by"
        " the same amount.",
        user_id=payout.artist_id,
    )


def handle_transfer_reversed(event: dict[str, Any]) -> str:
    """Credit back what Stripe reversed and we have not credited yet (each partial reversal once,
    under the payout's row lock); mark the payout reversed once fully reversed. Audit:
    payout.reversed (and payout.paid first when the payout was still submitted); email to the
    artist."""
    transfer = event["data"]["object"]
    payout = _payout_for_transfer(transfer)
    if payout is None:
        return IGNORED_UNKNOWN_TRANSFER
    if not _matches(payout, transfer):
        log.error("transfer %s does not match payout %s", transfer.get("id"), payout.id)
        return f"not applied: transfer does not match payout {payout.id}"
    outcome: list[str] = []
    if payout.status == PayoutStatus.SUBMITTED:
        _record_paid(payout, transfer["id"], event["id"])
        outcome.append("payout recorded paid")
    if payout.status not in (PayoutStatus.PAID, PayoutStatus.REVERSED):
        return f"ignored: payout {payout.id} is {payout.status}"
    reversed_total = transfer.get("amount_reversed")
    if isinstance(reversed_total, bool) or not isinstance(reversed_total, int):
        return "not applied: no amount_reversed"
    # The event carries the transfer's cumulative total: whatever the arrival order, credit the
    # part beyond what we hold (an older event finds nothing left), one entry per total.
    newly_reversed = reversed_total - payout.amount_reversed
    if newly_reversed <= 0:
        outcome.append("reversal already applied")
        return "; ".join(outcome)
    entry = compensation.post_payout_reversal(
        payout, newly_reversed, reversed_through=reversed_total
    )
    payout.amount_reversed = reversed_total
    fully = reversed_total >= payout.amount_minor
    if fully and PayoutStatus.REVERSED in PAYOUT_TRANSITIONS[PayoutStatus(payout.status)]:
        payout.status = PayoutStatus.REVERSED
        payout.reversed_at = utcnow()
    audit.record(
        SYSTEM,
        "payout.reversed",
        "payout",
        payout.id,
        artist_id=payout.artist_id,
        data={
            "transfer_id": payout.transfer_id,
            "amount_reversed": reversed_total,
            "credited_minor": newly_reversed,
            "currency": payout.currency,
            "fully_reversed": fully,
            "ledger_entry_id": entry.id,
            "event_id": event["id"],
        },
    )
    _notify_reversed(payout, newly_reversed, fully)
    outcome.append("payout reversed" if fully else "payout partly reversed")
    return "; ".join(outcome)


def _notify_reversed(payout: Payout, amount: int, fully: bool) -> None:
    artist = payout.artist
    what = "was reversed" if fully else "was partly reversed"
    queue_email(
        "payout.reversed",
        artist.email,
        f"Your payout {what}",
        f"Stripe reversed {money(amount, payout.currency)} of your payout of"
        f" {money(payout.amount_minor, payout.currency)} (transfer {payout.transfer_id}).\n"
        "The amount is back in your balance and will be paid in a later payout run.\n\n"
        "See your balance and payouts on your page.",
        user_id=artist.id,
    )


HANDLERS = {
    "account.updated": handle_account_updated,
    "transfer.reversed": handle_transfer_reversed,
}

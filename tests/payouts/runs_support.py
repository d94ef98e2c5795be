"""Preconditions and checks shared by the payout-run tests.

Artists with a balance (an accepted contribution credited to the ledger) and a payout account
whose Stripe account really exists in the emulator (made through its API with the real client);
and the exactly-once comparison of the app's payouts with the emulator's transfer log.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
import stripe

from access_program.accounts.models import User
from access_program.cohorts.models import Cohort
from access_program.compensation import service as compensation
from access_program.compensation.models import Contribution, EntryKind, LedgerEntry
from access_program.db import db, utcnow
from access_program.outbox.models import OutboxMessage
from access_program.payouts.emulator import EmulatorServer
from access_program.payouts.models import Payout, PayoutAccount, PayoutStatus
from tests.factories import CohortFactory, MembershipFactory

#: How a test artist's payout account stands.
READY = "ready"  # onboarded at Stripe, and account.updated said so
ONBOARDING = "onboarding"  # at Stripe, not onboarded, and we know it
STALE = "stale"  # we believe it ready, Stripe does not: transfers to it fail
NO_ACCOUNT = None


def credit(artist_id: int, amount_minor: int, currency: str = "USD") -> LedgerEntry:
    """An accepted bug report credited to the artist's ledger."""
    contribution = Contribution(
        artist_id=artist_id,
        kind="bug_report",
        status="accepted",
        severity="low",
        title="A bug",
        work_date=utcnow().date(),
        amount_minor=amount_minor,
        currency=currency,
    )
    db.session.add(contribution)
    db.session.flush()
    entry = LedgerEntry(
        artist_id=artist_id,
        kind=EntryKind.CREDIT,
        amount_minor=amount_minor,
        currency=currency,
        description="Bug report",
        contribution_id=contribution.id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def stripe_account(client: stripe.StripeClient, emulator: EmulatorServer, onboarded: bool) -> str:
    """An Express account made through the emulator's API, onboarded through its control."""
    account = client.v1.accounts.create(
        params={
            "type": "express",
            "email": "artist@example.org",
            "capabilities": {"transfers": {"requested": True}},
        }
    )
    if onboarded:
        emulator.emulator.complete_onboarding(account.id)
    return account.id


def payout_account(artist_id: int, stripe_account_id: str, ready: bool) -> PayoutAccount:
    account = PayoutAccount(
        artist_id=artist_id,
        stripe_account_id=stripe_account_id,
        payouts_enabled=ready,
        details_submitted=ready,
        transfers_capability="active" if ready else "inactive",
    )
    db.session.add(account)
    db.session.flush()
    return account


def payable_artist(
    client: stripe.StripeClient,
    emulator: EmulatorServer,
    *,
    amount_minor: int = 5000,
    cohort: Cohort | None = None,
    account: str | None = READY,
    **membership: Any,
) -> User:
    """An active member (of ``cohort``, else of a new one) with ``amount_minor`` credited and a
    payout account in the state ``account`` names."""
    member = MembershipFactory(cohort=cohort or CohortFactory(), **membership)
    artist = member.user
    credit(artist.id, amount_minor)
    if account is not NO_ACCOUNT:
        stripe_id = stripe_account(client, emulator, onboarded=account in (READY,))
        payout_account(artist.id, stripe_id, ready=account in (READY, STALE))
    return artist


def fresh_payouts() -> list[Payout]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Payout).order_by(Payout.id)))


def assert_exactly_once(emulator: EmulatorServer, *, same_keys: bool = True) -> list[Payout]:
    """Every paid payout has exactly one transfer with its amount, destination and group (made
    with its own idempotency key), a failed one has none, no transfer lacks a payout, and each
    paid payout is debited once in the ledger."""
    log = emulator.emulator.transfer_log()
    payouts = fresh_payouts()
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for transfer in log:
        by_group[transfer["transfer_group"]].append(transfer)
    for payout in payouts:
        transfers = by_group.get(payout.transfer_group, [])
        if payout.status in (PayoutStatus.PAID, PayoutStatus.REVERSED):
            assert len(transfers) == 1, f"payout {payout.id}: {len(transfers)} transfers"
            (transfer,) = transfers
            assert transfer["id"] == payout.transfer_id
            assert transfer["amount"] == payout.amount_minor
            assert transfer["destination"] == payout.destination
            assert transfer["currency"] == payout.currency.lower()
            if same_keys:
                assert transfer["idempotency_key"] == payout.idempotency_key
        elif payout.status == PayoutStatus.FAILED:
            assert transfers == [], f"failed payout {payout.id} has a transfer"
        else:
            assert len(transfers) <= 1, f"open payout {payout.id}: {len(transfers)} transfers"
    groups = {payout.transfer_group for payout in payouts}
    strays = [t["id"] for t in log if t["transfer_group"] not in groups]
    assert strays == [], f"transfers without a payout: {strays}"
    debits = db.session.execute(
        sa.select(LedgerEntry.payout_id, sa.func.count())
        .where(LedgerEntry.kind == EntryKind.PAYOUT)
        .group_by(LedgerEntry.payout_id)
    ).all()
    paid_ids = {p.id for p in payouts if p.status in (PayoutStatus.PAID, PayoutStatus.REVERSED)}
    assert dict(debits) == dict.fromkeys(paid_ids, 1)
    return payouts


def assert_nothing_payable_left(artists: list[User]) -> None:
    """After a resume: each artist's payout is paid and their balance is 0."""
    for artist in artists:
        assert compensation.payable(artist.id) == 0, artist
        assert compensation.balance(artist.id)[0] == 0, artist
    open_payouts = [
        p.id for p in fresh_payouts() if p.status in (PayoutStatus.PENDING, PayoutStatus.SUBMITTED)
    ]
    assert open_payouts == []


def emails(kind: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
    )

"""Exactly once whatever Stripe answers: the emulator fails, delays and drops, in-process.

Each test ends by comparing the app's payouts with the emulator's transfer log (every paid payout
has exactly one transfer with its amount and destination, made with its own key; no transfer
lacks a payout) and, after the resumes, checking that nothing payable is left unpaid. The
PostgreSQL-only faults (two executing processes, SIGKILL) are in test_faults_postgres.py.
"""

from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.compensation import service as compensation
from access_program.db import db
from access_program.payouts import service
from access_program.payouts.models import PayoutRun
from tests.factories import CohortFactory, UserFactory

from .runs_support import (
    READY,
    STALE,
    assert_exactly_once,
    assert_nothing_payable_left,
    emails,
    fresh_payouts,
    payable_artist,
)

#: Short client timeouts, and emulator delays past them, keep these tests quick.
TIMEOUT = 0.3
DELAY = 0.8
RESUMES = 12


@pytest.fixture
def configure(app, stripe_emulator, monkeypatch):
    """Point the app at the emulator with a client timeout and a number of SDK retries."""

    def set_client(*, retries: int, timeout: float = TIMEOUT) -> None:
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_emulator.url)
        monkeypatch.setitem(app.config, "STRIPE_TIMEOUT", timeout)
        monkeypatch.setitem(app.config, "STRIPE_MAX_RETRIES", retries)

    set_client(retries=2)
    return set_client


@pytest.fixture
def admin(db):
    return UserFactory(admin=True)


@pytest.fixture
def artists(db, configure, stripe_client, stripe_emulator):
    """``artists(n)``: n members of one cohort with a balance and a ready payout account."""
    cohort = CohortFactory()

    def make(count: int, account: str = READY, amount_minor: int = 5000) -> list:
        return [
            payable_artist(
                stripe_client,
                stripe_emulator,
                cohort=cohort,
                account=account,
                amount_minor=amount_minor + index,
            )
            for index in range(count)
        ]

    return make


def faults(emulator, **spec) -> None:
    emulator.emulator.add_faults({"path_prefix": "/v1/transfers", **spec})


def execute_until_finished(admin, run: PayoutRun) -> tuple[PayoutRun, int]:
    """Execute, then resume (as `flask payouts execute` would) until the run is finished."""
    for executions in range(1, RESUMES + 1):
        run, _ = service.execute_run(admin, run)
        if run.status == "finished":
            return run, executions
        time.sleep(DELAY / 2)
    raise AssertionError(f"run {run.id} still {run.status} after {RESUMES} executions")


# --- one fault at a time ---------------------------------------------------------------------


def test_a_500_on_first_attempts_is_retried_by_the_client_with_the_same_key(
    admin, artists, stripe_emulator
):
    paid = artists(3)
    run = service.create_run(admin)
    faults(stripe_emulator, fail_next=2, status=500)

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid, result.unanswered) == ("finished", 3, 0)
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left(paid)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_an_error_without_client_retries_leaves_the_payout_submitted_for_a_resume(
    admin, artists, configure, stripe_emulator, status
):
    configure(retries=0)
    paid = artists(3)
    run = service.create_run(admin)
    keys = {p.id: p.idempotency_key for p in run.payouts}
    faults(stripe_emulator, fail_next=1, status=status)

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid, result.unanswered) == ("executing", 2, 1)
    (waiting,) = [p for p in fresh_payouts() if p.status == "submitted"]
    assert waiting.lease_until is None and "same key" in waiting.failure_message
    assert compensation.payable(waiting.artist_id) == 0  # not payable twice meanwhile

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid) == ("finished", 1)
    payouts = assert_exactly_once(stripe_emulator)
    assert {p.id: p.idempotency_key for p in payouts} == keys
    assert next(p for p in payouts if p.id == waiting.id).attempts == 2
    assert_nothing_payable_left(paid)


def test_when_stripe_stops_answering_the_execution_stops_and_a_resume_pays_everyone(
    admin, artists, configure, stripe_emulator
):
    configure(retries=0)
    paid = artists(6)
    run = service.create_run(admin)
    faults(stripe_emulator, fail_next=service.GIVE_UP_AFTER, status=503)

    run, result = service.execute_run(admin, run)

    # Three calls in a row without an answer: the rest of the wave is not even sent.
    assert (run.status, result.paid, result.unanswered) == ("executing", 0, 6)
    assert stripe_emulator.emulator.transfer_log() == []
    assert all(p.status == "submitted" and p.lease_until is None for p in fresh_payouts())
    assert sum("Not sent" in p.failure_message for p in fresh_payouts()) == 3

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid) == ("finished", 6)
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left(paid)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_delay_past_the_client_timeout_makes_one_transfer(
    admin, artists, configure, stripe_emulator, retries
):
    configure(retries=retries)
    paid = artists(3)
    run = service.create_run(admin)
    faults(stripe_emulator, delay_seconds=DELAY, delay_next=1)

    run, executions = execute_until_finished(admin, run)

    # The emulator made the transfer although the client gave up waiting; the retry with the
    # same key got it back (or was told the key was in flight, and retried again).
    assert executions == 1 or retries == 0
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left(paid)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_connection_dropped_after_the_transfer_is_stored_makes_one_transfer(
    admin, artists, configure, stripe_emulator, retries
):
    configure(retries=retries)
    paid = artists(2)
    run = service.create_run(admin)
    faults(stripe_emulator, drop_after_transfer_next=1)

    run, result = service.execute_run(admin, run)

    if retries == 0:
        # APIConnectionError: no answer, though Stripe holds the transfer.
        assert (run.status, result.paid, result.unanswered) == ("executing", 1, 1)
        assert len(stripe_emulator.emulator.transfer_log()) == 2
        run, result = service.execute_run(admin, run)  # the resume gets the replay
    assert (run.status, result.unanswered) == ("finished", 0)
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left(paid)


def test_a_final_error_fails_the_payout_with_stripes_message_and_keeps_the_balance(
    admin, artists, stripe_emulator, stripe_client
):
    (stale,) = artists(1, account=STALE)  # we think it ready; Stripe has not enabled it
    (ready,) = artists(1)
    run = service.create_run(admin)

    run, result = service.execute_run(admin, run)

    assert (run.status, result.paid, result.failed) == ("finished", 1, 1)
    failed = next(p for p in fresh_payouts() if p.artist_id == stale.id)
    assert failed.status == "failed" and failed.transfer_id is None
    assert "capabilities enabled" in failed.failure_message  # Stripe's own message
    assert compensation.payable(stale.id) == failed.amount_minor
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "payout.failed"))
    assert (event.artist_id, event.data["message"]) == (stale.id, failed.failure_message)
    (email,) = emails("payout.failed")
    assert email.user_id == stale.id and "capabilities enabled" in email.body
    assert [m.user_id for m in emails("payout.paid")] == [ready.id]
    assert_exactly_once(stripe_emulator)

    # Onboarding completes; the next run pays what the failed payout left payable.
    stripe_emulator.emulator.complete_onboarding(failed.destination)
    run, _ = service.execute_run(admin, service.create_run(admin))

    assert [p.status for p in run.payouts] == ["paid"]
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left([stale, ready])


# --- a random schedule of faults, over several seeds --------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_a_random_fault_schedule_pays_everyone_exactly_once(
    admin, artists, configure, stripe_emulator, seed
):
    rng = random.Random(seed)
    retries = rng.choice([0, 1, 2])
    configure(retries=retries)
    ready = artists(rng.randint(4, 7), amount_minor=2500 + rng.randrange(50_000))
    stale = artists(rng.randint(0, 1), account=STALE)
    run = service.create_run(admin)
    schedule = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["fail", "fail", "delay", "drop"])
        if kind == "fail":
            spec = {"fail_next": rng.randint(1, 3), "status": rng.choice([500, 502, 503, 429])}
        elif kind == "delay":
            spec = {"delay_seconds": DELAY, "delay_next": rng.randint(1, 2)}
        else:
            spec = {"drop_after_transfer_next": rng.randint(1, 2)}
        schedule.append(spec)
        faults(stripe_emulator, **spec)

    run, executions = execute_until_finished(admin, run)

    context = f"seed {seed}, retries {retries}, faults {schedule}, {executions} executions"
    # Every fault struck (a drop needs a new transfer: more drops than transfers remain).
    drops = sum(spec.get("drop_after_transfer_next", 0) for spec in schedule)
    left = stripe_emulator.emulator.faults()
    assert [f["kind"] for f in left] in ([], ["drop"]), context
    assert sum(f["remaining"] for f in left) == max(0, drops - len(ready)), context
    payouts = assert_exactly_once(stripe_emulator)
    statuses = {p.artist_id: p.status for p in payouts}
    assert statuses == {a.id: "paid" for a in ready} | {a.id: "failed" for a in stale}, context
    assert_nothing_payable_left(ready)
    for artist in stale:
        assert compensation.payable(artist.id) > 0, context

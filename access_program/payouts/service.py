"""Payout runs and payouts: the preview, execution exactly once, resume and reconciliation.

SPEC §3.9 and STYLE §9. A run is opened as a preview: one ``pending`` payout per payable artist,
its amount, destination, idempotency key and transfer group fixed at that moment, and the blocked
artists listed with the reason. Executing it works the payouts in id order, in waves:

1. claim a wave of payouts with a conditional UPDATE that leases each one (two executors,
   threads, processes or hosts, never work the same payout at once) and marks it ``submitted``;
   COMMIT;
2. call Stripe for each, one after the other, with the payout's own idempotency key, outside any
   transaction (from a worker thread, so that recording the previous wave overlaps the calls);
3. in one transaction record each ``paid`` (transfer id, the ledger debit, audit, email) or
   ``failed`` (Stripe's message, audit, email; the balance stays payable) — or, when Stripe gave
   no final answer (timeout, connection lost, 5xx, rate limit), leave it ``submitted`` and
   release its lease, so that a later ``execute`` retries it with the same key.

A payout first submitted more than 23 hours ago is reconciled before any retry, because Stripe may
forget an idempotency key after 24 hours: the transfers of its ``transfer_group`` are listed and a
transfer found there is recorded as paid instead of being made again.

The lease is for efficiency, not for safety: should two executors ever call Stripe for the same
payout, they send the same key and get the same transfer, and recording an outcome is guarded by
the payout's status, so it happens once.

Unlike the rest of the application these functions commit (STYLE §3, payouts aside): the
``submitted`` state must be durable before Stripe is called, and outcomes are units of work of
their own.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask, current_app

from access_program import audit
from access_program.access.models import Grant
from access_program.accounts.models import User
from access_program.audit.service import Actor
from access_program.cohorts.models import (
    Cohort,
    Membership,
    MembershipStatus,
    RateCard,
    TermsAcceptance,
)
from access_program.compensation import service as compensation
from access_program.compensation.models import LedgerEntry
from access_program.db import UTCDateTime, db, utcnow
from access_program.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationError,
)
from access_program.outbox.service import queue_email
from access_program.payouts import gateway
from access_program.payouts.models import (
    Payout,
    PayoutAccount,
    PayoutRun,
    PayoutStatus,
    RunStatus,
)
from access_program.templating import money

log = logging.getLogger(__name__)

#: Payouts still owed an answer from Stripe.
OPEN_STATUSES = (PayoutStatus.PENDING, PayoutStatus.SUBMITTED)
#: Stripe keeps an idempotency key at least 24 hours; reconcile before retrying an older one.
RECONCILE_AFTER = dt.timedelta(hours=23)
#: Added to the longest a claim's Stripe calls can take, so a live executor keeps its lease.
LEASE_MARGIN = dt.timedelta(seconds=10)
#: Payouts claimed (committed as submitted) together; their outcomes are recorded together.
WAVE = 25
#: Calls in a row without an answer after which Stripe is taken to be down: the rest of the
#: wave is not sent and the execution stops (a later execute resumes with the same keys).
GIVE_UP_AFTER = 3
#: Stripe calls one claim may make: the reconciliation list and the transfer.
CALLS_PER_CLAIM = 2
#: How often a waiting executor looks again for payouts another executor holds.
WAIT_POLL_SECONDS = 0.25

BLOCKED_IN_PROGRESS = "a payout is already in progress"
BLOCKED_NO_ACCOUNT = "no payout account"
BLOCKED_NOT_READY = "payout account not ready (onboarding incomplete)"

#: Stripe answered, and the answer is final: the transfer was not made and will not be.
FINAL_ERRORS: tuple[type[stripe.StripeError], ...] = (
    stripe.InvalidRequestError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.CardError,
)


def _below_minimum(minimum: int, currency: str) -> str:
    return f"below the minimum payout of {money(minimum, currency)}"


# --- who may -------------------------------------------------------------------------------


def _acting(actor: User | Actor) -> Actor:
    """Runs are an admin's business; the CLI acts as the system (whoever may run commands)."""
    if isinstance(actor, Actor):
        return actor
    if not actor.is_admin:
        raise Forbidden("Only admins open and execute payout runs.")
    return actor.actor


# --- reading -------------------------------------------------------------------------------


def get_run(run_id: int) -> PayoutRun:
    run = db.session.get(PayoutRun, run_id) if isinstance(run_id, int) and run_id > 0 else None
    if run is None:
        raise NotFound(f"No payout run {run_id}.")
    return run


def runs_query() -> sa.Select:
    """Payout runs, newest first."""
    return sa.select(PayoutRun).order_by(PayoutRun.id.desc())


def payouts_query(
    *, status: str | None = None, run_id: int | None = None, artist_id: int | None = None
) -> sa.Select:
    """Payouts newest first, filtered by status, run and artist."""
    query = sa.select(Payout).order_by(Payout.id.desc())
    if status is not None:
        query = query.where(Payout.status == status)
    if run_id is not None:
        query = query.where(Payout.run_id == run_id)
    if artist_id is not None:
        query = query.where(Payout.artist_id == artist_id)
    return query


def payouts_for_viewer(viewer: User, **filters: Any) -> sa.Select:
    """An admin sees every payout; an artist only their own; staff none (403)."""
    if viewer.is_admin:
        return payouts_query(**filters)
    if viewer.is_staff:
        raise Forbidden("Payouts are for admins and for the artist paid.")
    return payouts_query(**{**filters, "artist_id": viewer.id})


@dataclass(frozen=True)
class RunSummary:
    """How many payouts of a run are in each status, and the amount paid."""

    counts: dict[str, int]
    paid_minor: int

    @property
    def open(self) -> int:
        return sum(self.counts.get(status, 0) for status in OPEN_STATUSES)


def run_summary(run_id: int) -> RunSummary:
    rows = db.session.execute(
        sa.select(
            Payout.status, sa.func.count(), sa.func.coalesce(sa.func.sum(Payout.amount_minor), 0)
        )
        .where(Payout.run_id == run_id)
        .group_by(Payout.status)
    ).all()
    counts = {status: count for status, count, _ in rows}
    paid = sum(int(total) for status, _, total in rows if status == PayoutStatus.PAID)
    return RunSummary(counts, paid)


# --- the preview ---------------------------------------------------------------------------


@dataclass
class _Candidate:
    artist: User
    payable: int
    currency: str
    in_flight: bool
    account: PayoutAccount | None
    minimum: int
    leaving: bool
    blocked_reason: str | None = field(default=None)


def _candidate_balances(cohort: Cohort | None) -> list[tuple[int, int, str]]:
    """(artist id, balance, ledger currency) of every artist with a positive balance, of the
    cohort (any membership, ended ones included: leaving members are paid too) or of all."""
    query = (
        sa.select(
            LedgerEntry.artist_id,
            sa.func.sum(LedgerEntry.amount_minor),
            sa.func.max(LedgerEntry.currency),
        )
        .group_by(LedgerEntry.artist_id)
        .having(sa.func.sum(LedgerEntry.amount_minor) > 0)
        .order_by(LedgerEntry.artist_id)
    )
    if cohort is not None:
        query = query.where(
            LedgerEntry.artist_id.in_(
                sa.select(Membership.user_id).where(Membership.cohort_id == cohort.id)
            )
        )
    return [
        (artist_id, int(total), currency)
        for artist_id, total, currency in db.session.execute(query)
    ]


def _in_flight(artist_ids: list[int]) -> dict[int, int]:
    """The amount of each artist's payouts still open (pending or submitted)."""
    rows = db.session.execute(
        sa.select(Payout.artist_id, sa.func.sum(Payout.amount_minor))
        .where(Payout.artist_id.in_(artist_ids), Payout.status.in_(list(OPEN_STATUSES)))
        .group_by(Payout.artist_id)
    )
    return {artist_id: int(total) for artist_id, total in rows}


def _leaving(artist_ids: list[int]) -> set[int]:
    """The artists who are leaving, by compensation.is_leaving's rule, for many at once: no
    active membership, or grants none of which is current (revoked or expired)."""
    active = set(
        db.session.scalars(
            sa.select(Membership.user_id).where(
                Membership.user_id.in_(artist_ids), Membership.status == MembershipStatus.ACTIVE
            )
        )
    )
    now = utcnow()
    with_grants: set[int] = set()
    with_current_grant: set[int] = set()
    grants = db.session.execute(
        sa.select(Grant.user_id, Grant.revoked_at, Grant.expires_at).where(
            Grant.user_id.in_(artist_ids)
        )
    )
    for artist_id, revoked_at, expires_at in grants:
        with_grants.add(artist_id)
        if revoked_at is None and (expires_at is None or expires_at > now):
            with_current_grant.add(artist_id)
    return {
        artist_id
        for artist_id in artist_ids
        if artist_id not in active
        or (artist_id in with_grants and artist_id not in with_current_grant)
    }


def _minimums(artist_ids: list[int]) -> dict[int, int]:
    """The minimum payout of each artist's current terms (the latest they accepted)."""
    rows = db.session.execute(
        sa.select(TermsAcceptance.user_id, RateCard.minimum_payout)
        .join(RateCard, RateCard.terms_id == TermsAcceptance.terms_id)
        .where(TermsAcceptance.user_id.in_(artist_ids))
        .order_by(TermsAcceptance.accepted_at, TermsAcceptance.id)
    )
    return {artist_id: minimum for artist_id, minimum in rows}  # ascending: the last one wins


def _candidates(cohort: Cohort | None) -> list[_Candidate]:
    """Every artist with something payable or a payout in flight, with what decides their line.
    A fixed number of statements whatever the number of artists: payable is the balance less
    the payouts in flight, as compensation.payable computes it for one artist."""
    balances = _candidate_balances(cohort)
    ids = [artist_id for artist_id, _, _ in balances]
    if not ids:
        return []
    artists = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
    accounts = {
        a.artist_id: a
        for a in db.session.scalars(
            sa.select(PayoutAccount).where(PayoutAccount.artist_id.in_(ids))
        )
    }
    in_flight = _in_flight(ids)
    minimums = _minimums(ids)
    leaving = _leaving(ids)
    candidates = []
    for artist_id, balance, currency in balances:
        payable = max(balance - in_flight.get(artist_id, 0), 0)
        if payable <= 0 and artist_id not in in_flight:
            continue
        candidates.append(
            _Candidate(
                artist=artists[artist_id],
                payable=payable,
                currency=currency,
                in_flight=artist_id in in_flight,
                account=accounts.get(artist_id),
                minimum=minimums.get(artist_id, 0),
                leaving=artist_id in leaving,
            )
        )
    return candidates


def _blocked_reason(candidate: _Candidate) -> str | None:
    if candidate.in_flight:
        return BLOCKED_IN_PROGRESS
    if candidate.account is None:
        return BLOCKED_NO_ACCOUNT
    if not candidate.account.is_ready:
        return BLOCKED_NOT_READY
    if not candidate.leaving and candidate.payable < candidate.minimum:
        return _below_minimum(candidate.minimum, candidate.currency)
    return None


def _line(candidate: _Candidate, payout: Payout | None) -> dict[str, Any]:
    return {
        "artist_id": candidate.artist.id,
        "name": candidate.artist.name,
        "amount_minor": candidate.payable,
        "currency": candidate.currency,
        "payable": payout is not None,
        "blocked_reason": candidate.blocked_reason,
        "settlement": payout is not None and payout.settlement,
        "payout_id": payout.id if payout is not None else None,
    }


def get_cohort_for_run(cohort_id: int | None) -> Cohort | None:
    """The cohort a run is for (None: all); an unknown id is the caller's mistake (422)."""
    if cohort_id is None:
        return None
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None:
        raise ValidationError(
            f"No cohort {cohort_id}.", details={"cohort_id": [f"No cohort {cohort_id}."]}
        )
    return cohort


def create_run(actor: User | Actor, cohort: Cohort | None = None) -> PayoutRun:
    """Open a payout run (status preview): one pending payout per payable artist, amount, key and
    transfer group fixed now; blocked artists listed with the reason. Audit: payout_run.created
    and payout.created per payout."""
    acting = _acting(actor)
    run = PayoutRun(
        cohort_id=cohort.id if cohort is not None else None,
        status=RunStatus.PREVIEW,
        created_by_id=acting.id if acting.type == "user" else None,
        preview=[],
    )
    db.session.add(run)
    db.session.flush()

    candidates = _candidates(cohort)
    payouts: list[tuple[_Candidate, Payout]] = []
    for candidate in candidates:
        candidate.blocked_reason = _blocked_reason(candidate)
        if candidate.blocked_reason is not None:
            continue
        # A placeholder key and group until the id is known; both are fixed before the commit.
        placeholder = f"new-{uuid.uuid4().hex}"
        payout = Payout(
            run_id=run.id,
            artist_id=candidate.artist.id,
            destination=candidate.account.stripe_account_id,
            amount_minor=candidate.payable,
            currency=candidate.currency,
            status=PayoutStatus.PENDING,
            idempotency_key=placeholder,
            transfer_group=placeholder,
            settlement=candidate.leaving,
        )
        db.session.add(payout)
        payouts.append((candidate, payout))
    db.session.flush()
    for _, payout in payouts:
        # The random part keeps keys unique across databases that share one Stripe account.
        payout.idempotency_key = f"payout-{payout.id}-{secrets.token_hex(8)}"
        payout.transfer_group = f"payout-{payout.id}"
    by_artist = {candidate.artist.id: payout for candidate, payout in payouts}
    run.preview = [_line(c, by_artist.get(c.artist.id)) for c in candidates]
    db.session.flush()

    audit.record(
        acting,
        "payout_run.created",
        "payout_run",
        run.id,
        data={
            "cohort_id": run.cohort_id,
            "payouts": len(payouts),
            "total_minor": sum(p.amount_minor for _, p in payouts),
            "blocked": len(candidates) - len(payouts),
        },
    )
    audit.record_many(
        acting,
        [
            audit.Event(
                "payout.created",
                "payout",
                payout.id,
                payout.artist_id,
                {
                    "run_id": run.id,
                    "amount_minor": payout.amount_minor,
                    "currency": payout.currency,
                    "destination": payout.destination,
                    "settlement": payout.settlement,
                },
            )
            for _, payout in payouts
        ],
    )
    return run


# --- execution -----------------------------------------------------------------------------


def claim_seconds() -> float:
    """The longest one payout's Stripe calls can take, with the SDK's retries and backoff."""
    config = current_app.config
    if config.get("PAYOUT_CLAIM_SECONDS"):
        return float(config["PAYOUT_CLAIM_SECONDS"])
    retries = int(config["STRIPE_MAX_RETRIES"])
    backoff = sum(min(0.5 * 2 ** (n - 1), 5.0) for n in range(1, retries + 1))
    per_call = float(config["STRIPE_TIMEOUT"]) * (retries + 1) + backoff
    return CALLS_PER_CLAIM * per_call


@dataclass(frozen=True)
class _Claim:
    """What a claimed payout needs once the transaction that claimed it has committed."""

    id: int
    run_id: int
    artist_id: int
    amount_minor: int
    currency: str
    destination: str
    transfer_group: str
    idempotency_key: str
    first_submitted_at: dt.datetime | None
    lease_until: dt.datetime

    @property
    def needs_reconciliation(self) -> bool:
        return (
            self.first_submitted_at is not None
            and utcnow() - self.first_submitted_at > RECONCILE_AFTER
        )


@dataclass(frozen=True)
class _Email:
    kind: str
    to: str
    subject: str
    body: str
    user_id: int


@dataclass
class ExecutionResult:
    """What one execute call did (other executors may have done the rest)."""

    paid: int = 0
    failed: int = 0
    unanswered: int = 0
    finished: bool = False
    #: Whether it waited for payouts other executors held.
    waited: bool = False
    messages: list[str] = field(default_factory=list)


def start_run(actor: User | Actor, run: PayoutRun) -> Actor:
    """preview → executing (committed); a run already executing is resumed; a finished run is a
    409. Audit: payout_run.executing, once."""
    acting = _acting(actor)
    started = db.session.execute(
        sa.update(PayoutRun)
        .where(PayoutRun.id == run.id, PayoutRun.status == RunStatus.PREVIEW)
        .values(status=RunStatus.EXECUTING, executed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if started.rowcount == 1:
        audit.record(acting, "payout_run.executing", "payout_run", run.id)
    else:
        status = db.session.scalar(sa.select(PayoutRun.status).where(PayoutRun.id == run.id))
        if status == RunStatus.FINISHED:
            db.session.rollback()
            raise Conflict(
                f"Payout run {run.id} is finished: every payout has its answer. Open a new run"
                " to pay what has been earned since."
            )
        if status == RunStatus.CANCELLED:
            db.session.rollback()
            raise Conflict(
                f"Payout run {run.id} was cancelled before it was executed: nothing was sent."
                " Open a new run to pay these artists."
            )
    db.session.commit()
    return acting


def cancel_run(actor: User | Actor, run: PayoutRun, reason: str = "") -> PayoutRun:
    """preview → cancelled: withdraw a run before anything is sent; its pending payouts become
    cancelled, so the artists are free for the next run. Only a preview: once executing, payouts
    may have reached Stripe (409; resume it instead). The conditional UPDATE decides a race
    with ``start_run``: exactly one of them moves the run out of preview. Audit:
    payout_run.cancelled and payout.cancelled per payout."""
    acting = _acting(actor)
    reason = (reason or "").strip()
    now = utcnow()
    cancelled = db.session.execute(
        sa.update(PayoutRun)
        .where(PayoutRun.id == run.id, PayoutRun.status == RunStatus.PREVIEW)
        .values(status=RunStatus.CANCELLED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if cancelled.rowcount != 1:
        status = db.session.scalar(sa.select(PayoutRun.status).where(PayoutRun.id == run.id))
        if status == RunStatus.CANCELLED:
            raise InvalidTransition(f"Payout run {run.id} is already cancelled.")
        raise InvalidTransition(
            f"Payout run {run.id} is {status}: its payouts may already have been sent, so it"
            " cannot be cancelled."
            + (" Execute it again to resume it." if status == RunStatus.EXECUTING else "")
        )
    payouts = db.session.execute(
        sa.update(Payout)
        .where(Payout.run_id == run.id, Payout.status == PayoutStatus.PENDING)
        .values(status=PayoutStatus.CANCELLED, failure_message="The payout run was cancelled.")
        .returning(Payout.id, Payout.artist_id, Payout.amount_minor, Payout.currency)
        .execution_options(synchronize_session=False)
    ).all()
    payouts.sort(key=lambda p: p.id)
    audit.record(
        acting,
        "payout_run.cancelled",
        "payout_run",
        run.id,
        data={
            "reason": reason,
            "payouts": len(payouts),
            "total_minor": sum(p.amount_minor for p in payouts),
        },
    )
    audit.record_many(
        acting,
        [
            audit.Event(
                "payout.cancelled",
                "payout",
                p.id,
                p.artist_id,
                {"run_id": run.id, "amount_minor": p.amount_minor, "currency": p.currency},
            )
            for p in payouts
        ],
    )
    db.session.expire_all()  # the run and its payouts were changed by Core updates
    return db.session.get(PayoutRun, run.id)


def execute_run(
    actor: User | Actor, run: PayoutRun, *, wait: bool = False
) -> tuple[PayoutRun, ExecutionResult]:
    """Execute (or resume) a run: each pending payout, and each submitted one whose lease has
    expired, is committed as submitted, sent to Stripe with its own key, then recorded paid or
    failed. Audit: payout_run.executing, payout.submitted|paid|failed, payout_run.finished.

    ``wait``: when other executors hold the last payouts, wait for them (or for their leases to
    expire) instead of returning with the run still executing.
    """
    acting = start_run(actor, run)
    result = _Executor(run.id, acting, dt.timedelta(seconds=claim_seconds())).execute(wait)
    run = db.session.get(PayoutRun, run.id, populate_existing=True)
    return run, result


class _Executor:
    """Works a run's open payouts in waves of up to WAVE payouts, in id order, one Stripe call
    at a time.

    A wave is claimed in one transaction (each payout leased and committed as submitted), then
    its calls are made one after the other from a worker thread; when they are done the next
    wave is claimed and its calls start, and meanwhile this thread records the finished wave's
    outcomes in one transaction (paid with the debit, or failed; audit; email). No transaction
    ever waits on Stripe and no call depends on uncommitted state (STYLE §9); only this thread
    touches the database. Each payout of a wave is leased for as long as the calls before it and
    its own can take, so a live executor keeps its payouts and a dead one's are freed in turn.
    """

    def __init__(self, run_id: int, actor: Actor, per_claim: dt.timedelta) -> None:
        self.run_id = run_id
        self.actor = actor
        self.per_claim = per_claim
        self.result = ExecutionResult()
        self.emails: dict[int, str] = {}
        self.emails_to_send: list[_Email] = []

    def execute(self, wait: bool) -> ExecutionResult:
        app = current_app._get_current_object()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stripe-calls") as caller:
            while True:
                self._work_pass(app, caller)
                if self._finish():
                    self.result.finished = True
                    return self.result
                # Payouts left open: Stripe did not answer for some (a later execute retries
                # them), or other executors hold them.
                if self.result.unanswered or not wait:
                    return self.result
                if not self.result.waited:
                    log.info(
                        "payout run %s: waiting for payouts another executor holds (or for"
                        " their leases to run out)",
                        self.run_id,
                    )
                    self.result.waited = True
                time.sleep(WAIT_POLL_SECONDS)

    def _work_pass(self, app: Flask, caller: ThreadPoolExecutor) -> None:
        """One pass over the run's claimable payouts, in id order."""
        self.emails = dict(
            db.session.execute(
                sa.select(Payout.id, User.email)
                .join(User, User.id == Payout.artist_id)
                .where(Payout.run_id == self.run_id, Payout.status.in_(list(OPEN_STATUSES)))
            ).all()
        )
        wave = self._claim_wave(0)
        db.session.commit()
        calls = caller.submit(self._calls_with_app, app, wave) if wave else None
        while wave:
            outcomes = calls.result()
            gave_up = any(isinstance(outcome, NotSent) for outcome in outcomes)
            following = [] if gave_up else self._claim_wave(wave[-1].id)
            db.session.commit()  # submitted, durably, before their calls start
            if following:
                calls = caller.submit(self._calls_with_app, app, following)
            self._record_wave(wave, outcomes)
            db.session.commit()
            wave = following

    # Claiming --------------------------------------------------------------------------------

    def _claim_wave(self, cursor: int) -> list[_Claim]:
        """Lease the next open payouts after ``cursor`` and mark them submitted, with a
        conditional UPDATE: of several executors, one only takes a payout whose lease is free.
        In the caller's transaction."""
        while True:
            now = utcnow()
            claimable = sa.and_(
                Payout.run_id == self.run_id,
                Payout.id > cursor,
                Payout.status.in_(list(OPEN_STATUSES)),
                sa.or_(Payout.lease_until.is_(None), Payout.lease_until < now),
            )
            ids = list(
                db.session.scalars(
                    sa.select(Payout.id).where(claimable).order_by(Payout.id).limit(WAVE)
                )
            )
            if not ids:
                return []
            leases = {
                payout_id: now + self.per_claim * (position + 1) + LEASE_MARGIN
                for position, payout_id in enumerate(ids)
            }
            lease_until = sa.case(
                *(
                    (Payout.id == payout_id, sa.literal(until, UTCDateTime()))
                    for payout_id, until in leases.items()
                )
            )
            rows = db.session.execute(
                sa.update(Payout)
                .where(Payout.id.in_(ids), claimable)
                .values(
                    status=PayoutStatus.SUBMITTED,
                    lease_until=lease_until,
                    attempts=Payout.attempts + 1,
                    submitted_at=sa.func.coalesce(Payout.submitted_at, now),
                )
                .returning(
                    Payout.id,
                    Payout.artist_id,
                    Payout.amount_minor,
                    Payout.currency,
                    Payout.destination,
                    Payout.transfer_group,
                    Payout.idempotency_key,
                    Payout.submitted_at,
                    Payout.attempts,
                )
                .execution_options(synchronize_session=False)
            ).all()
            if rows:
                break
            cursor = ids[-1]  # another executor took them all first
        rows = sorted(rows, key=lambda r: r.id)
        audit.record_many(
            self.actor,
            [
                audit.Event(
                    "payout.submitted",
                    "payout",
                    row.id,
                    row.artist_id,
                    {"run_id": self.run_id, "idempotency_key": row.idempotency_key},
                )
                for row in rows
                if row.attempts == 1
            ],
        )
        claims = []
        for row in rows:
            first_attempt = row.attempts == 1
            claims.append(
                _Claim(
                    id=row.id,
                    run_id=self.run_id,
                    artist_id=row.artist_id,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    destination=row.destination,
                    transfer_group=row.transfer_group,
                    idempotency_key=row.idempotency_key,
                    first_submitted_at=None if first_attempt else row.submitted_at,
                    lease_until=leases[row.id],
                )
            )
        return claims

    # Calling Stripe (no transaction open) ------------------------------------------------------

    @classmethod
    def _calls_with_app(cls, app: Flask, wave: list[_Claim]) -> list[str | stripe.StripeError]:
        """Each payout's outcome, in order. After GIVE_UP_AFTER calls in a row without an
        answer Stripe is taken to be down: the rest of the wave is not sent."""
        outcomes: list[str | stripe.StripeError] = []
        unanswered = 0
        with app.app_context():  # the gateway reads the Stripe configuration
            for claim in wave:
                if unanswered >= GIVE_UP_AFTER:
                    outcomes.append(
                        NotSent(f"Not sent: Stripe did not answer the {unanswered} calls before.")
                    )
                    continue
                outcome = cls._call(claim)
                final = isinstance(outcome, str) or _is_final(outcome)
                unanswered = 0 if final else unanswered + 1
                outcomes.append(outcome)
        return outcomes

    @classmethod
    def _call(cls, claim: _Claim) -> str | stripe.StripeError:
        """The transfer id, or the error Stripe (or the network) gave."""
        try:
            transfer_id = cls._reconciled(claim) if claim.needs_reconciliation else None
            if transfer_id is None:
                transfer_id = gateway.create_transfer(
                    amount=claim.amount_minor,
                    currency=claim.currency,
                    destination=claim.destination,
                    transfer_group=claim.transfer_group,
                    idempotency_key=claim.idempotency_key,
                    metadata={
                        "payout_id": str(claim.id),
                        "run_id": str(claim.run_id),
                        "payout_key": claim.idempotency_key,
                    },
                ).id
        except stripe.StripeError as error:
            return error
        return transfer_id

    @staticmethod
    def _reconciled(claim: _Claim) -> str | None:
        """The transfer Stripe already made for this payout, if any (found by its group)."""
        for found in gateway.transfers_in_group(claim.transfer_group):
            transfer = found.to_dict()
            # The group alone is not proof (another database may use the same Stripe account):
            # every transfer this code makes carries its payout's key in its metadata.
            if (transfer.get("metadata") or {}).get("payout_key") == claim.idempotency_key:
                log.info("payout %s reconciled: Stripe has %s", claim.id, transfer["id"])
                return transfer["id"]
        return None

    # Recording the outcome (in the caller's transaction) ----------------------------------------

    def _record_wave(self, wave: list[_Claim], outcomes: list[str | stripe.StripeError]) -> None:
        """Each payout's outcome, in the caller's transaction; the emails are added last so
        that they are written together."""
        paid: dict[int, str] = {}
        for claim, outcome in zip(wave, outcomes, strict=True):
            if isinstance(outcome, str):
                paid[claim.id] = outcome
            elif _is_final(outcome):
                self._record_failed(claim, outcome)
            else:
                # No final answer, or the key was used with other parameters (money may have
                # moved): never guess.
                self._record_unanswered(claim, outcome)
        if paid:
            self._record_paid(paid)
        for email in self.emails_to_send:
            queue_email(email.kind, email.to, email.subject, email.body, user_id=email.user_id)
        self.emails_to_send = []

    def _settle(self, claim: _Claim, **values: Any) -> Payout | None:
        """submitted → failed unless another executor recorded it first; the payout, or None
        when it was already recorded."""
        return db.session.scalars(
            sa.update(Payout)
            .where(Payout.id == claim.id, Payout.status == PayoutStatus.SUBMITTED)
            .values(lease_until=None, **values)
            .returning(Payout),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).first()

    def _record_paid(self, transfers: dict[int, str]) -> None:
        """submitted → paid, with the transfer id, and the ledger debit, audit and email of each
        payout, in one transaction; a payout another executor recorded first is left alone."""
        transfer_id = sa.case(
            *((Payout.id == payout_id, value) for payout_id, value in transfers.items())
        )
        payouts = db.session.scalars(
            sa.update(Payout)
            .where(Payout.id.in_(list(transfers)), Payout.status == PayoutStatus.SUBMITTED)
            .values(
                status=PayoutStatus.PAID,
                transfer_id=transfer_id,
                paid_at=utcnow(),
                lease_until=None,
                failure_message=None,
            )
            .returning(Payout),
            execution_options={"synchronize_session": False, "populate_existing": True},
        ).all()
        payouts = sorted(payouts, key=lambda p: p.id)
        compensation.post_payout_debits(payouts)
        audit.record_many(
            self.actor,
            [
                audit.Event(
                    "payout.paid",
                    "payout",
                    payout.id,
                    payout.artist_id,
                    {
                        "run_id": payout.run_id,
                        "transfer_id": payout.transfer_id,
                        "amount_minor": payout.amount_minor,
                        "currency": payout.currency,
                        "attempts": payout.attempts,
                    },
                )
                for payout in payouts
            ],
        )
        for payout in payouts:
            amount = money(payout.amount_minor, payout.currency)
            self.emails_to_send.append(
                _Email(
                    "payout.paid",
                    self.emails.get(payout.id) or payout.artist.email,
                    f"Payout sent: {amount}",
                    f"We sent {amount} to your Stripe account (transfer {payout.transfer_id}).\n"
                    "It appears in your Stripe Express dashboard; your balance with us is"
                    " reduced by the same amount.",
                    payout.artist_id,
                )
            )
            self.result.paid += 1

    def _record_failed(self, claim: _Claim, error: stripe.StripeError) -> None:
        """failed, with Stripe's message; nothing is debited, so the next run pays it."""
        message = _stripe_message(error)
        payout = self._settle(
            claim, status=PayoutStatus.FAILED, failure_message=message, failed_at=utcnow()
        )
        if payout is None:
            return
        audit.record(
            self.actor,
            "payout.failed",
            "payout",
            payout.id,
            artist_id=payout.artist_id,
            data={
                "run_id": payout.run_id,
                "message": message,
                "code": getattr(error, "code", None),
                "amount_minor": payout.amount_minor,
                "currency": payout.currency,
            },
        )
        amount = money(payout.amount_minor, payout.currency)
        self.emails_to_send.append(
            _Email(
                "payout.failed",
                self.emails.get(claim.id) or payout.artist.email,
                f"Payout not sent: {amount}",
                f"We could not send {amount} to your Stripe account. Stripe said: {message}\n"
                "Nothing left your balance: it will be paid in a later run once this is fixed"
                " (check your payout account).",
                payout.artist_id,
            )
        )
        self.result.failed += 1

    def _record_unanswered(self, claim: _Claim, error: stripe.StripeError) -> None:
        """No final answer: stay submitted (the same key is retried later); release the lease
        if it is still ours."""
        message = "No final answer from Stripe yet; retried with the same key: " + _stripe_message(
            error
        )
        log.warning("payout %s left submitted: %s", claim.id, message)
        db.session.execute(
            sa.update(Payout)
            .where(
                Payout.id == claim.id,
                Payout.status == PayoutStatus.SUBMITTED,
                Payout.lease_until == claim.lease_until,
            )
            .values(lease_until=None, failure_message=message[:2000])
            .execution_options(synchronize_session=False)
        )
        self.result.unanswered += 1
        self.result.messages.append(f"payout {claim.id}: {message}")

    def _finish(self) -> bool:
        """executing → finished once no payout of the run is open; audit payout_run.finished.
        Whether the run is finished (by this executor or another)."""
        open_payouts = (
            sa.select(Payout.id)
            .where(Payout.run_id == self.run_id, Payout.status.in_(list(OPEN_STATUSES)))
            .exists()
        )
        finished = db.session.execute(
            sa.update(PayoutRun)
            .where(
                PayoutRun.id == self.run_id,
                PayoutRun.status == RunStatus.EXECUTING,
                ~open_payouts,
            )
            .values(status=RunStatus.FINISHED, finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if finished.rowcount == 1:
            summary = run_summary(self.run_id)
            audit.record(
                self.actor,
                "payout_run.finished",
                "payout_run",
                self.run_id,
                data={
                    "paid": summary.counts.get(PayoutStatus.PAID, 0),
                    "failed": summary.counts.get(PayoutStatus.FAILED, 0),
                    "paid_minor": summary.paid_minor,
                },
            )
            db.session.commit()
            return True
        status = db.session.scalar(sa.select(PayoutRun.status).where(PayoutRun.id == self.run_id))
        db.session.commit()
        return status == RunStatus.FINISHED


class NotSent(stripe.StripeError):
    """A payout of a wave not sent because Stripe stopped answering the calls before it."""


def _is_final(error: stripe.StripeError) -> bool:
    """Stripe answered, and the transfer was not made (an idempotency error is not final: the
    key was used with other parameters, so money may have moved; never guess)."""
    return isinstance(error, FINAL_ERRORS) and not isinstance(error, stripe.IdempotencyError)


def _stripe_message(error: stripe.StripeError) -> str:
    return error.user_message or str(error) or type(error).__name__

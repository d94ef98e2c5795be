"""Contributions, the append-only ledger, statements and the artist's data export (SPEC §3.8).

Every amount is computed from the rate card of the terms version the artist had accepted when the
work was done (adjustments aside). Each state change writes one audit event (artist set) in the
caller's transaction; accepting or declining a proposal also queues an email to the artist.
Database constraints make a double credit impossible: one ledger entry per contribution, one
approved-output contribution per request, one stipend per artist and month, one correction per
entry, one payout debit per payout and one reversal entry per payout and cumulative reversed
total (Stripe may reverse a transfer in several parts).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program import audit
from access_program.access.models import MAX_ID, Grant
from access_program.accounts.models import Role, User
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor, exported
from access_program.cohorts.models import (
    Membership,
    MembershipStatus,
    RateCard,
    Terms,
    TermsAcceptance,
)
from access_program.compensation.models import (
    CONTRIBUTION_TRANSITIONS,
    PROPOSABLE_KINDS,
    Contribution,
    ContributionKind,
    ContributionStatus,
    EntryKind,
    FeedbackSession,
    LedgerEntry,
    Severity,
)
from access_program.db import db, utcnow
from access_program.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationError
from access_program.outbox.service import queue_email
from access_program.payouts.models import Payout, PayoutAccount, PayoutStatus
from access_program.reviews.models import APPROVED_STATES, Submission
from access_program.templating import CURRENCY_EXPONENTS, money

log = logging.getLogger(__name__)

SYSTEM = Actor.system("compensation")
#: Used for an artist with neither ledger entries nor accepted terms (nothing to show anyway).
DEFAULT_CURRENCY = "USD"
MAX_HOURS = Decimal(24)
#: Larger adjustments are surely typing mistakes (ten billion in major units).
MAX_ADJUSTMENT = 10**12
MAX_SESSION_ARTISTS = 1000
PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Payouts still owed a Stripe answer: their amount is not payable a second time.
IN_FLIGHT = (PayoutStatus.PENDING, PayoutStatus.SUBMITTED)

KIND_WORDS = {
    ContributionKind.FEEDBACK_SESSION: "feedback session",
    ContributionKind.BUG_REPORT: "bug report",
    ContributionKind.RED_TEAM_FINDING: "red-team finding",
    ContributionKind.MARKETING_USE: "marketing use",
    ContributionKind.APPROVED_OUTPUT: "approved output",
    ContributionKind.STIPEND: "stipend",
    ContributionKind.ADJUSTMENT: "adjustment",
}


# --- small helpers -------------------------------------------------------------------------


def _possible_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar day in UTC."""
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    try:
        return start, start + dt.timedelta(days=1)
    except OverflowError:
        raise ValidationError(
            "That date is out of range.", details={"date": ["Give a real date."]}
        ) from None


def _today() -> dt.date:
    return utcnow().date()


def _clean_text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _check_not_future(errors: dict[str, list[str]], name: str, day: dt.date | None) -> None:
    if day is not None and day > _today():
        errors.setdefault(name, []).append("That date is in the future.")


def kind_words(kind: str) -> str:
    try:
        return KIND_WORDS[ContributionKind(kind)]
    except ValueError:
        return kind.replace("_", " ")


def hours_to_minutes(hours: Any) -> int:
    """Hours (number or numeric string) → whole minutes, half up; 422 unless 0 < hours ≤ 24."""
    message = "Give the hours as a number greater than 0 and at most 24."
    if isinstance(hours, bool) or hours is None:
        raise ValidationError("The hours are missing.", details={"hours": [message]})
    try:
        value = Decimal(str(hours))
    except InvalidOperation:
        raise ValidationError("The hours are not a number.", details={"hours": [message]}) from None
    if not value.is_finite() or value <= 0 or value > MAX_HOURS:
        raise ValidationError(
            f"Hours must be greater than 0 and at most 24 per session (got {hours}).",
            details={"hours": [message]},
        )
    minutes = int((value * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if minutes < 1:
        raise ValidationError(
            "Less than a minute of feedback cannot be paid.",
            details={"hours": ["Give at least one minute (0.02 hours)."]},
        )
    return minutes


def fee_for_minutes(minutes: int, hourly_rate: int) -> int:
    """minutes × rate / 60, rounded half up, in integers only."""
    return (minutes * hourly_rate + 30) // 60


def parse_month(month: Any) -> tuple[dt.date, dt.date]:
    """ "YYYY-MM" → (first day, last day); 422 for anything else."""
    match = MONTH_RE.match(month) if isinstance(month, str) else None
    if not match or int(match.group(1)) < 1:
        raise ValidationError(
            f"{month!r} is not a month: use YYYY-MM (for example 2026-03).",
            details={"month": ["Use YYYY-MM, for example 2026-03."]},
        )
    year, number = int(match.group(1)), int(match.group(2))
    first = dt.date(year, number, 1)
    last = (
        dt.date(year + 1, 1, 1) if number == 12 else dt.date(year, number + 1, 1)
    ) - dt.timedelta(days=1)
    return first, last


def _require_staff(actor: User, what: str) -> None:
    if not actor.is_staff:
        raise Forbidden(f"Only staff {what}.")


def _require_admin(actor: User, what: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"Only admins {what}.")


def _truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# --- rate cards ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PricePoint:
    """The terms an artist had accepted on a day, and their rate card."""

    artist_id: int
    terms_id: int
    terms_label: str
    cohort_id: int
    rate_card: RateCard


def price_points(artist_ids: Iterable[int], day: dt.date) -> dict[int, PricePoint]:
    """For each artist, the latest terms acceptance made by the end of ``day`` in a membership
    that had not ended before ``day`` began. Artists without one are missing from the result."""
    ids = sorted(set(artist_ids))
    if not ids:
        return {}
    start, end = _day_bounds(day)
    rows = db.session.execute(
        sa.select(TermsAcceptance, Membership.cohort_id, Terms.label, RateCard)
        .join(Membership, Membership.id == TermsAcceptance.membership_id)
        .join(Terms, Terms.id == TermsAcceptance.terms_id)
        .join(RateCard, RateCard.terms_id == TermsAcceptance.terms_id)
        .where(
            TermsAcceptance.user_id.in_(ids),
            TermsAcceptance.accepted_at < end,
            sa.or_(Membership.ended_at.is_(None), Membership.ended_at >= start),
        )
        .order_by(TermsAcceptance.accepted_at, TermsAcceptance.id)
    ).all()
    points: dict[int, PricePoint] = {}
    for acceptance, cohort_id, label, rate_card in rows:  # ascending: the last one wins
        points[acceptance.user_id] = PricePoint(
            acceptance.user_id, acceptance.terms_id, label, cohort_id, rate_card
        )
    return points


def price_point(artist_id: int, day: dt.date) -> PricePoint | None:
    return price_points([artist_id], day).get(artist_id)


def current_rate_card(artist_id: int) -> RateCard | None:
    """The rate card of the terms the artist accepted last, whether or not they are still a
    member (a payout run reads its ``minimum_payout``)."""
    return db.session.scalar(
        sa.select(RateCard)
        .join(TermsAcceptance, TermsAcceptance.terms_id == RateCard.terms_id)
        .where(TermsAcceptance.user_id == artist_id)
        .order_by(TermsAcceptance.accepted_at.desc(), TermsAcceptance.id.desc())
        .limit(1)
    )


def compute_amount(contribution: Contribution, rate_card: RateCard) -> int:
    """The amount the rate card pays for this contribution (computed, never typed)."""
    kind = ContributionKind(contribution.kind)
    if kind == ContributionKind.FEEDBACK_SESSION:
        return fee_for_minutes(contribution.minutes or 0, rate_card.feedback_hour)
    if kind == ContributionKind.BUG_REPORT:
        return getattr(rate_card, f"bug_{Severity(contribution.severity)}")
    if kind == ContributionKind.RED_TEAM_FINDING:
        return getattr(rate_card, f"red_team_{Severity(contribution.severity)}")
    if kind == ContributionKind.MARKETING_USE:
        return rate_card.marketing_use
    if kind == ContributionKind.APPROVED_OUTPUT:
        return rate_card.approved_output
    if kind == ContributionKind.STIPEND:
        return rate_card.monthly_stipend
    raise ValueError(f"{kind} has no rate: its amount is given")


def _price(contribution: Contribution, point: PricePoint) -> None:
    contribution.terms_id = point.terms_id
    contribution.amount_minor = compute_amount(contribution, point.rate_card)
    contribution.currency = point.rate_card.currency
    if contribution.cohort_id is None:
        contribution.cohort_id = point.cohort_id


# --- the ledger: writing -------------------------------------------------------------------


def _check_currency(artist_id: int, currency: str) -> None:
    """One currency per artist's ledger: a sum over mixed currencies would mean nothing."""
    existing = db.session.scalar(
        sa.select(LedgerEntry.currency).where(LedgerEntry.artist_id == artist_id).limit(1)
    )
    if existing is not None and existing != currency:
        raise Conflict(
            f"The artist's ledger is in {existing}; an amount in {currency} cannot be added to"
            " it. Convert it and record an adjustment instead.",
            code="currency_mismatch",
        )


def _description(contribution: Contribution) -> str:
    kind = ContributionKind(contribution.kind)
    if kind == ContributionKind.FEEDBACK_SESSION:
        hours = f"{Decimal(contribution.minutes or 0) / 60:.2f}".rstrip("0").rstrip(".")
        text = f"Feedback session, {hours} h: {contribution.title}"
    elif kind in (ContributionKind.BUG_REPORT, ContributionKind.RED_TEAM_FINDING):
        text = f"{kind_words(kind).capitalize()} ({contribution.severity}): {contribution.title}"
    elif kind == ContributionKind.STIPEND:
        text = f"Stipend {contribution.month}"
    elif kind == ContributionKind.ADJUSTMENT:
        text = f"Adjustment: {contribution.description}"
    else:
        text = f"{kind_words(kind).capitalize()}: {contribution.title}"
    return _truncate(text, 300)


def _credit(contribution: Contribution, created_by_id: int | None) -> LedgerEntry | None:
    """The ledger entry of an accepted contribution; none when its amount is 0 (a ledger amount
    is never 0). The unique contribution_id makes a second one impossible."""
    if not contribution.amount_minor:
        return None
    _check_currency(contribution.artist_id, contribution.currency)
    entry = LedgerEntry(
        artist_id=contribution.artist_id,
        kind=(
            EntryKind.ADJUSTMENT
            if contribution.kind == ContributionKind.ADJUSTMENT
            else EntryKind.CREDIT
        ),
        amount_minor=contribution.amount_minor,
        currency=contribution.currency,
        description=_description(contribution),
        contribution_id=contribution.id,
        terms_id=contribution.terms_id,
        created_by_id=created_by_id,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _credit_data(contribution: Contribution, entry: LedgerEntry | None) -> dict[str, Any]:
    return {
        "kind": contribution.kind,
        "amount_minor": contribution.amount_minor,
        "currency": contribution.currency,
        "terms_id": contribution.terms_id,
        "ledger_entry_id": entry.id if entry else None,
    }


def _record(actor: Actor, action: str, contribution: Contribution, **data: Any) -> None:
    audit.record(
        actor,
        action,
        "contribution",
        contribution.id,
        artist_id=contribution.artist_id,
        data=data,
    )


def _notify(artist: User, subject: str, lines: list[str]) -> None:
    queue_email(
        "compensation",
        artist.email,
        subject,
        "\n".join(lines) + "\n\nSee your contributions and balance on your page.",
        user_id=artist.id,
    )


# --- contributions: loading and listing ----------------------------------------------------


def get_contribution(contribution_id: int, *, lock: bool = False) -> Contribution:
    """The contribution (404 if none). ``lock=True`` takes its row lock (PostgreSQL) and reads
    it as committed now, so two staff members never both decide it."""
    if not _possible_id(contribution_id):
        raise NotFound(f"No contribution {contribution_id}.")
    query = sa.select(Contribution).where(Contribution.id == contribution_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    contribution = db.session.scalar(query)
    if contribution is None:
        raise NotFound(f"No contribution {contribution_id}.")
    return contribution


def get_for_viewer(user: User, contribution_id: int) -> Contribution:
    """Staff see every contribution; an artist only their own (else 404)."""
    contribution = get_contribution(contribution_id)
    if not user.is_staff and contribution.artist_id != user.id:
        raise NotFound(f"No contribution {contribution_id}.")
    return contribution


def contributions_query(
    *, status: str | None = None, kind: str | None = None, artist_id: int | None = None
) -> sa.Select:
    """Contributions newest first, with their terms in the same statement."""
    query = (
        sa.select(Contribution)
        .options(so.joinedload(Contribution.terms), so.joinedload(Contribution.artist))
        .order_by(Contribution.created_at.desc(), Contribution.id.desc())
    )
    if status:
        query = query.where(Contribution.status == status)
    if kind:
        query = query.where(Contribution.kind == kind)
    if artist_id is not None:
        query = query.where(Contribution.artist_id == artist_id)
    return query


def _artist_or_error(artist_id: Any, field_name: str = "artist_id") -> User:
    user = db.session.get(User, artist_id) if _possible_id(artist_id) else None
    if user is None or user.role != Role.ARTIST:
        raise ValidationError(
            f"No artist {artist_id}.", details={field_name: [f"No artist {artist_id}."]}
        )
    return user


# --- contributions: proposing and deciding -------------------------------------------------


def propose_contribution(
    actor: User,
    *,
    kind: Any,
    artist_id: int | None = None,
    hours: Any = None,
    severity: Any = None,
    title: Any = "",
    description: Any = "",
    link: Any = None,
    work_date: dt.date | None = None,
) -> Contribution:
    """An artist proposes a bug report, red-team finding or feedback hours (staff may propose on
    an artist's behalf); staff then accept or decline it. Audit: contribution.proposed."""
    errors: dict[str, list[str]] = {}
    artist: User | None = None
    if actor.is_staff:
        if artist_id is None:
            errors["artist_id"] = ["Give the id of the artist who did the work."]
        else:
            try:
                artist = _artist_or_error(artist_id)
            except ValidationError as exc:
                errors.update(exc.details)
    else:
        if not actor.is_artist:
            raise Forbidden("Only artists and staff propose contributions.")
        if artist_id is not None and artist_id != actor.id:
            raise Forbidden("Artists propose their own contributions only.")
        artist = actor

    kind = kind if isinstance(kind, str) else repr(kind)
    severity = severity if isinstance(severity, str) or severity is None else repr(severity)
    if kind not in {k.value for k in PROPOSABLE_KINDS}:
        allowed = ", ".join(PROPOSABLE_KINDS)
        if kind in {k.value for k in ContributionKind}:
            message = f"A {kind_words(kind)} is credited by the program, not proposed."
        else:
            message = f"Unknown kind {kind!r}."
        errors["kind"] = [f"{message} Use one of: {allowed}."]
    minutes = None
    if kind == ContributionKind.FEEDBACK_SESSION:
        try:
            minutes = hours_to_minutes(hours)
        except ValidationError as exc:
            errors.update(exc.details)
        if severity is not None:
            errors["severity"] = ["A feedback session has no severity."]
    elif kind in (ContributionKind.BUG_REPORT, ContributionKind.RED_TEAM_FINDING):
        if severity not in {s.value for s in Severity}:
            errors["severity"] = [
                f"Unknown severity {severity!r}: use one of " + ", ".join(Severity) + "."
                if severity is not None
                else "Give the severity: " + ", ".join(Severity) + "."
            ]
        if hours is not None:
            errors["hours"] = [f"A {kind_words(kind)} is paid by severity, not by the hour."]
    title = _clean_text(title)
    if not title or len(title) > 200:
        errors["title"] = ["Give a title of 1 to 200 characters."]
    description = _clean_text(description)
    if len(description) > 10_000:
        errors["description"] = ["Keep the description under 10,000 characters."]
    link = _clean_text(link) or None
    if link is not None:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 500:
            errors["link"] = ["Give an http(s) address of at most 500 characters."]
    work_date = work_date or _today()
    _check_not_future(errors, "work_date", work_date)
    point = None
    if artist is not None and "work_date" not in errors:
        point = price_point(artist.id, work_date)
        if point is None:
            errors["work_date"] = [
                f"{'You' if artist is actor else artist.name} had not accepted the terms of a"
                f" cohort on {work_date.isoformat()}: no rate card applies to that day."
            ]
    if errors:
        raise ValidationError("The contribution cannot be proposed as it is.", details=errors)

    contribution = Contribution(
        artist_id=artist.id,
        cohort_id=point.cohort_id,
        kind=kind,
        status=ContributionStatus.PROPOSED,
        title=title,
        description=description,
        link=link,
        minutes=minutes,
        severity=severity if kind != ContributionKind.FEEDBACK_SESSION else None,
        work_date=work_date,
        proposed_by_id=actor.id,
    )
    db.session.add(contribution)
    db.session.flush()
    _record(
        actor.actor,
        "contribution.proposed",
        contribution,
        kind=kind,
        title=title,
        minutes=minutes,
        severity=contribution.severity,
        work_date=work_date,
        on_behalf=artist.id != actor.id,
    )
    return contribution


def _move(contribution: Contribution, target: ContributionStatus, verb: str) -> str:
    current = ContributionStatus(contribution.status)
    if target not in CONTRIBUTION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"The contribution is {current}; only a proposed contribution can be {verb}.",
            details={"status": current},
        )
    contribution.status = target
    return current


def accept_contribution(actor: User, contribution: Contribution) -> Contribution:
    """proposed → accepted: priced at the rate card of the terms the artist had accepted on the
    work date, credited to the ledger in the same transaction. Audit: contribution.accepted."""
    _require_staff(actor, "accept contributions")
    contribution = get_contribution(contribution.id, lock=True)
    _move(contribution, ContributionStatus.ACCEPTED, "accepted")
    point = price_point(contribution.artist_id, contribution.work_date)
    if point is None:
        raise Conflict(
            f"The artist had accepted no terms on {contribution.work_date.isoformat()}, so no"
            " rate card prices this work; decline it with a reason instead.",
            code="no_rate_card",
        )
    _price(contribution, point)
    contribution.decided_by_id = actor.id
    contribution.decided_at = utcnow()
    entry = _credit(contribution, actor.id)
    _record(
        actor.actor,
        "contribution.accepted",
        contribution,
        **{"from": ContributionStatus.PROPOSED, "to": contribution.status},
        **_credit_data(contribution, entry),
        terms_label=point.terms_label,
    )
    amount = money(contribution.amount_minor, contribution.currency)
    _notify(
        contribution.artist,
        f"Contribution accepted: {contribution.title}",
        [
            f"Your {kind_words(contribution.kind)} was accepted.",
            f"{amount} was credited to your balance at the rates of the terms"
            f" {point.terms_label!r}."
            if entry
            else f"The rate card of the terms {point.terms_label!r} pays {amount} for it.",
        ],
    )
    return contribution


def decline_contribution(actor: User, contribution: Contribution, reason: Any) -> Contribution:
    """proposed → declined, with the reason the artist reads. Audit: contribution.declined."""
    _require_staff(actor, "decline contributions")
    reason = _clean_text(reason)
    if not reason:
        raise ValidationError(
            "Give the reason for declining: the artist reads it.",
            details={"reason": ["Give the reason for declining."]},
        )
    if len(reason) > 10_000:
        raise ValidationError(
            "The reason is too long.", details={"reason": ["At most 10,000 characters."]}
        )
    contribution = get_contribution(contribution.id, lock=True)
    previous = _move(contribution, ContributionStatus.DECLINED, "declined")
    contribution.decline_reason = reason
    contribution.decided_by_id = actor.id
    contribution.decided_at = utcnow()
    _record(
        actor.actor,
        "contribution.declined",
        contribution,
        **{"from": previous, "to": contribution.status},
        kind=contribution.kind,
        reason=reason,
    )
    _notify(
        contribution.artist,
        f"Contribution declined: {contribution.title}",
        [f"Your {kind_words(contribution.kind)} was declined.", f"Reason: {reason}"],
    )
    return contribution


def _credit_new(
    actor: Actor, contribution: Contribution, created_by_id: int | None, **data: Any
) -> LedgerEntry | None:
    """Add an accepted contribution, credit it and record contribution.credited."""
    contribution.status = ContributionStatus.ACCEPTED
    contribution.decided_at = utcnow()
    db.session.add(contribution)
    db.session.flush()
    entry = _credit(contribution, created_by_id)
    _record(
        actor, "contribution.credited", contribution, **_credit_data(contribution, entry), **data
    )
    return entry


# --- feedback sessions ---------------------------------------------------------------------


@dataclass
class LoggedSession:
    session: FeedbackSession
    contributions: list[Contribution]


def log_feedback_session(
    actor: User, *, title: Any, held_on: dt.date | None, hours: Any, artist_ids: Any
) -> LoggedSession:
    """Staff log one session for many artists: one accepted contribution and credit per artist,
    each at that artist's rate card on the day. Nothing is written if any id is unknown or not
    a member then. Audit: contribution.credited per artist."""
    _require_staff(actor, "log feedback sessions")
    errors: dict[str, list[str]] = {}
    title = _clean_text(title)
    if not title or len(title) > 200:
        errors["title"] = ["Give a title of 1 to 200 characters."]
    if held_on is None:
        errors["held_on"] = ["Give the day the session was held."]
    _check_not_future(errors, "held_on", held_on)
    try:
        minutes = hours_to_minutes(hours)
    except ValidationError as exc:
        errors.update(exc.details)
        minutes = None
    ids: list[int] = []
    if not isinstance(artist_ids, list | tuple) or not artist_ids:
        errors["artist_ids"] = ["Give the ids of the artists who took part."]
    elif not all(isinstance(i, int) and not isinstance(i, bool) for i in artist_ids):
        errors["artist_ids"] = ["Give the artist ids as whole numbers."]
    elif len(artist_ids) > MAX_SESSION_ARTISTS:
        errors["artist_ids"] = [f"At most {MAX_SESSION_ARTISTS} artists per session."]
    else:
        ids = list(dict.fromkeys(artist_ids))
    points: dict[int, PricePoint] = {}
    if ids and "held_on" not in errors:
        possible = [i for i in ids if _possible_id(i)]
        known = set(
            db.session.scalars(
                sa.select(User.id).where(User.id.in_(possible), User.role == Role.ARTIST)
            )
        )
        points = price_points(known, held_on)
        problems = [f"No artist {i}." for i in ids if i not in known] + [
            f"Artist {i} was not a member with accepted terms on {held_on.isoformat()}."
            for i in ids
            if i in known and i not in points
        ]
        if problems:
            errors["artist_ids"] = problems
    if errors:
        raise ValidationError("The feedback session cannot be logged as it is.", details=errors)

    session = FeedbackSession(title=title, held_on=held_on, minutes=minutes, logged_by_id=actor.id)
    db.session.add(session)
    db.session.flush()
    contributions = []
    for artist_id in ids:
        contribution = Contribution(
            artist_id=artist_id,
            kind=ContributionKind.FEEDBACK_SESSION,
            title=title,
            minutes=minutes,
            work_date=held_on,
            feedback_session_id=session.id,
            proposed_by_id=actor.id,
            decided_by_id=actor.id,
        )
        _price(contribution, points[artist_id])
        _credit_new(
            actor.actor,
            contribution,
            actor.id,
            feedback_session_id=session.id,
            title=title,
            held_on=held_on,
            minutes=minutes,
        )
        contributions.append(contribution)
    return LoggedSession(session, contributions)


# --- marketing uses and approved outputs ---------------------------------------------------


def record_marketing_use(
    actor: User, *, submission_id: Any, channel: Any, used_on: dt.date | None
) -> Contribution:
    """The company used an approved output in its own promotion: the artist is credited the
    marketing-use fee of the terms they had accepted on that day. Audit: contribution.credited."""
    _require_staff(actor, "record marketing uses")
    errors: dict[str, list[str]] = {}
    channel = _clean_text(channel)
    if not channel or len(channel) > 200:
        errors["channel"] = ["Give the channel (where it was used) in 1 to 200 characters."]
    if used_on is None:
        errors["used_on"] = ["Give the day it was used."]
    _check_not_future(errors, "used_on", used_on)
    submission = db.session.get(Submission, submission_id) if _possible_id(submission_id) else None
    if submission is None:
        errors["submission_id"] = [f"No request {submission_id}."]
    if errors:
        raise ValidationError("The marketing use cannot be recorded as it is.", details=errors)
    if submission.status not in APPROVED_STATES:
        raise Conflict(
            f"Request {submission.id} is {submission.status.replace('_', ' ')}: only an approved"
            " output can be used in marketing.",
            code="not_approved",
            details={"status": submission.status},
        )
    duplicate = db.session.scalar(
        sa.select(Contribution.id).where(
            Contribution.kind == ContributionKind.MARKETING_USE,
            Contribution.submission_id == submission.id,
            sa.func.lower(Contribution.channel) == channel.lower(),
            Contribution.work_date == used_on,
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"This use is already recorded (contribution {duplicate}): same request, channel and"
            " day.",
            code="duplicate",
        )
    point = price_point(submission.artist_id, used_on)
    if point is None:
        raise Conflict(
            f"The artist had accepted no terms on {used_on.isoformat()}: no rate card prices"
            " this use.",
            code="no_rate_card",
        )
    contribution = Contribution(
        artist_id=submission.artist_id,
        kind=ContributionKind.MARKETING_USE,
        title=_truncate(submission.title, 200),
        submission_id=submission.id,
        channel=channel,
        work_date=used_on,
        proposed_by_id=actor.id,
        decided_by_id=actor.id,
    )
    _price(contribution, point)
    _credit_new(
        actor.actor,
        contribution,
        actor.id,
        submission_id=submission.id,
        channel=channel,
        used_on=used_on,
    )
    return contribution


def credit_approved_output(submission: Submission, *, actor: Actor = SYSTEM) -> Contribution | None:
    """A request became approved, deemed approved or appeal granted: the artist is credited the
    approved-output fee of the request's terms (a fee of 0 records the contribution without a
    ledger entry). Idempotent: a second call returns the first contribution; the unique index
    makes a second credit impossible even for concurrent callers. It never blocks the approval
    that calls it: terms without a rate card, or a ledger in another currency, credit nothing
    (logged). Audit: contribution.credited."""
    if submission.status not in APPROVED_STATES:
        raise InvalidTransition(
            f"Request {submission.id} is {submission.status.replace('_', ' ')}; only an approved"
            " one earns the approved-output fee.",
            details={"status": submission.status},
        )
    existing = _approved_output_of(submission.id)
    if existing is not None:
        return existing
    terms = db.session.get(Terms, submission.terms_id)
    rate_card = terms.rate_card if terms else None
    if rate_card is None:
        log.warning("request %s: its terms have no rate card; nothing credited", submission.id)
        return None
    contribution = Contribution(
        artist_id=submission.artist_id,
        cohort_id=submission.cohort_id,
        kind=ContributionKind.APPROVED_OUTPUT,
        title=_truncate(submission.title, 200),
        submission_id=submission.id,
        work_date=submission.created_at.date(),
        terms_id=terms.id,
        amount_minor=rate_card.approved_output,
        currency=rate_card.currency,
    )
    try:
        with db.session.begin_nested():
            _credit_new(
                actor,
                contribution,
                None,
                submission_id=submission.id,
                submission_status=submission.status,
            )
    except sa.exc.IntegrityError:
        # Another transaction credited it first and committed: that credit stands.
        existing = _approved_output_of(submission.id)
        if existing is None:
            raise
        return existing
    except Conflict as exc:
        log.warning("request %s: approved-output fee not credited: %s", submission.id, exc)
        return None
    return contribution


def _approved_output_of(submission_id: int) -> Contribution | None:
    return db.session.scalar(
        sa.select(Contribution).where(
            Contribution.kind == ContributionKind.APPROVED_OUTPUT,
            Contribution.submission_id == submission_id,
        )
    )


# --- stipends ------------------------------------------------------------------------------


@dataclass
class AccrualResult:
    month: str
    credited: int = 0
    already_credited: int = 0
    #: Members whose rate card pays no stipend.
    zero_stipend: int = 0
    #: Active members who had accepted no terms by the end of the month.
    without_terms: int = 0
    #: Artists refused for another reason (a ledger in another currency), with the reason.
    refused: list[str] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)


def _stipend_day(month: Any) -> dt.date:
    """The day that prices a month's stipend: its last day, or today for the current month."""
    first, last = parse_month(month)
    today = _today()
    if first > today:
        raise ValidationError(
            f"{month} has not started: stipends are credited for the current or a past month.",
            details={"month": ["Give the current or a past month."]},
        )
    return min(last, today)


def _stipend_exists(artist_id: int, month: str) -> bool:
    return (
        db.session.scalar(
            sa.select(Contribution.id).where(
                Contribution.kind == ContributionKind.STIPEND,
                Contribution.artist_id == artist_id,
                Contribution.month == month,
            )
        )
        is not None
    )


def _insert_stipend(
    actor: Actor, artist_id: int, month: str, day: dt.date, point: PricePoint
) -> Contribution:
    """In a savepoint: the unique (artist, month) index turns a rival's stipend into an
    IntegrityError that rolls back only this artist's rows."""
    contribution = Contribution(
        artist_id=artist_id,
        kind=ContributionKind.STIPEND,
        title=f"Stipend {month}",
        month=month,
        work_date=day,
    )
    _price(contribution, point)
    with db.session.begin_nested():
        _credit_new(actor, contribution, None, month=month)
    return contribution


def credit_stipend(actor: Actor, artist_id: int, month: Any) -> Contribution:
    """One artist's stipend for a month; a second one for the same month is refused (409).
    Audit: contribution.credited."""
    day = _stipend_day(month)
    point = price_point(artist_id, day)
    if point is None:
        raise Conflict(
            f"Artist {artist_id} had accepted no terms by the end of {month}: no stipend is due.",
            code="no_rate_card",
        )
    if point.rate_card.monthly_stipend <= 0:
        raise Conflict(f"The rate card of {point.terms_label!r} pays no monthly stipend.")
    conflict = Conflict(
        f"Artist {artist_id} was already credited the stipend for {month}.",
        code="already_credited",
    )
    if _stipend_exists(artist_id, month):
        raise conflict
    try:
        return _insert_stipend(actor, artist_id, month, day, point)
    except sa.exc.IntegrityError:
        raise conflict from None


def accrue_stipends(month: Any, *, actor: Actor = SYSTEM) -> AccrualResult:
    """Credit each active member's monthly stipend once, at the rate card of the terms they had
    accepted by the month's end (by today for the current month; none when it is 0). Running it
    again, or twice at once on PostgreSQL, credits nothing more. Pauses do not stop stipends
    (SPEC §3.6).
    Audit: contribution.credited per artist credited."""
    day = _stipend_day(month)
    result = AccrualResult(month)
    member_ids = sorted(
        set(
            db.session.scalars(
                sa.select(Membership.user_id)
                .join(User, User.id == Membership.user_id)
                .where(
                    Membership.status == MembershipStatus.ACTIVE,
                    Membership.accepted_terms_id.is_not(None),
                    User.role == Role.ARTIST,
                )
            )
        )
    )
    done = set(
        db.session.scalars(
            sa.select(Contribution.artist_id).where(
                Contribution.kind == ContributionKind.STIPEND,
                Contribution.month == month,
                Contribution.artist_id.in_(member_ids),
            )
        )
    )
    points = price_points(member_ids, day)
    # In id order, so two concurrent runs meet at the same artist first rather than deadlocking.
    for artist_id in member_ids:
        if artist_id in done:
            result.already_credited += 1
            continue
        point = points.get(artist_id)
        if point is None:
            result.without_terms += 1
            continue
        if point.rate_card.monthly_stipend <= 0:
            result.zero_stipend += 1
            continue
        try:
            contribution = _insert_stipend(actor, artist_id, month, day, point)
        except sa.exc.IntegrityError:
            result.already_credited += 1  # a concurrent run credited this artist first
            continue
        except Conflict as exc:
            result.refused.append(f"artist {artist_id}: {exc.message}")
            continue
        result.credited += 1
        result.contributions.append(contribution)
    return result


# --- adjustments and corrections -----------------------------------------------------------


def record_adjustment(
    actor: User, *, artist_id: Any, amount_minor: Any, reason: Any
) -> Contribution:
    """An admin credits (or, negative, debits) an artist by hand, with the reason the artist
    reads: the one typed amount. Audit: contribution.credited."""
    _require_admin(actor, "record adjustments")
    errors: dict[str, list[str]] = {}
    try:
        artist = _artist_or_error(artist_id)
    except ValidationError as exc:
        errors.update(exc.details)
        artist = None
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        errors["amount_minor"] = ["Give a whole amount in minor units (cents)."]
    elif amount_minor == 0:
        errors["amount_minor"] = ["An adjustment of 0 changes nothing: give a non-zero amount."]
    elif abs(amount_minor) > MAX_ADJUSTMENT:
        errors["amount_minor"] = [f"At most {MAX_ADJUSTMENT} minor units either way."]
    reason = _clean_text(reason)
    if not reason:
        errors["reason"] = ["Give the reason: the artist reads it."]
    elif len(reason) > 2000:
        errors["reason"] = ["At most 2,000 characters."]
    if errors:
        raise ValidationError("The adjustment cannot be recorded as it is.", details=errors)
    _, currency = balance(artist.id)
    point = price_point(artist.id, _today())
    contribution = Contribution(
        artist_id=artist.id,
        cohort_id=point.cohort_id if point else None,
        kind=ContributionKind.ADJUSTMENT,
        title=_truncate(f"Adjustment: {reason}", 200),
        description=reason,
        work_date=_today(),
        amount_minor=amount_minor,
        currency=currency,
        proposed_by_id=actor.id,
        decided_by_id=actor.id,
    )
    _credit_new(actor.actor, contribution, actor.id, reason=reason)
    _notify(
        artist,
        "Your balance was adjusted",
        [
            f"An administrator {'credited' if amount_minor > 0 else 'debited'}"
            f" {money(abs(amount_minor), currency)}.",
            f"Reason: {reason}",
        ],
    )
    return contribution


def get_entry(entry_id: int) -> LedgerEntry:
    entry = db.session.get(LedgerEntry, entry_id) if _possible_id(entry_id) else None
    if entry is None:
        raise NotFound(f"No ledger entry {entry_id}.")
    return entry


def reverse_entry(actor: User, entry: LedgerEntry, reason: Any) -> LedgerEntry:
    """A correction: a new entry of the opposite sign (the ledger is never edited), at most one
    per entry. Payout entries are settled by Stripe's events, not by hand.
    Audit: ledger.corrected."""
    _require_admin(actor, "correct the ledger")
    reason = _clean_text(reason)
    if not reason or len(reason) > 2000:
        raise ValidationError(
            "Give the reason for the correction: the artist reads it.",
            details={"reason": ["Give the reason in 1 to 2,000 characters."]},
        )
    if entry.kind not in (EntryKind.CREDIT, EntryKind.ADJUSTMENT):
        raise Conflict(
            f"Entry {entry.id} is a {entry.kind.replace('_', ' ')} entry: only credits and"
            " adjustments are corrected by hand.",
            code="not_correctable",
        )
    conflict = Conflict(
        f"Entry {entry.id} is already reversed by a correction.", code="already_reversed"
    )
    reversed_by = sa.select(LedgerEntry.id).where(LedgerEntry.reverses_entry_id == entry.id)
    if db.session.scalar(reversed_by) is not None:
        raise conflict
    correction = LedgerEntry(
        artist_id=entry.artist_id,
        kind=EntryKind.CORRECTION,
        amount_minor=-entry.amount_minor,
        currency=entry.currency,
        description=_truncate(f"Correction of entry {entry.id}: {reason}", 300),
        reverses_entry_id=entry.id,
        terms_id=entry.terms_id,
        created_by_id=actor.id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(correction)
    except sa.exc.IntegrityError:
        raise conflict from None
    audit.record(
        actor.actor,
        "ledger.corrected",
        "ledger_entry",
        correction.id,
        artist_id=entry.artist_id,
        data={
            "reverses_entry_id": entry.id,
            "amount_minor": correction.amount_minor,
            "currency": correction.currency,
            "reason": reason,
        },
    )
    artist = db.session.get(User, entry.artist_id)
    _notify(
        artist,
        "A ledger entry was corrected",
        [
            f"The entry {entry.description!r} ({money(entry.amount_minor, entry.currency)}) was"
            f" reversed by a correction of {money(correction.amount_minor, entry.currency)}.",
            f"Reason: {reason}",
        ],
    )
    return correction


# --- payouts (called by the payouts domain) ------------------------------------------------


def _payout_entry(
    payout: Payout, kind: EntryKind, reversed_through: int | None = None
) -> LedgerEntry | None:
    """The payout's debit, or its reversal entry for the cumulative total ``reversed_through``."""
    query = sa.select(LedgerEntry).where(
        LedgerEntry.payout_id == payout.id, LedgerEntry.kind == kind
    )
    if kind == EntryKind.PAYOUT_REVERSAL:
        query = query.where(LedgerEntry.reversed_through == reversed_through)
    return db.session.scalar(query)


def _post_payout_entry(
    payout: Payout,
    kind: EntryKind,
    amount_minor: int,
    description: str,
    *,
    reversed_through: int | None = None,
) -> LedgerEntry:
    existing = _payout_entry(payout, kind, reversed_through)
    if existing is not None:
        return existing
    entry = LedgerEntry(
        artist_id=payout.artist_id,
        kind=kind,
        amount_minor=amount_minor,
        currency=payout.currency,
        description=description,
        payout_id=payout.id,
        reversed_through=reversed_through,
    )
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except sa.exc.IntegrityError:
        # A concurrent writer posted the same entry first (the unique debit per payout, or
        # the unique (payout, reversed_through)).
        existing = _payout_entry(payout, kind, reversed_through)
        if existing is None:
            raise
        return existing
    return entry


def post_payout_debit(payout: Payout) -> LedgerEntry:
    """The debit of a paid payout (negative), written in the transaction that marks it paid.
    Idempotent: a second call returns the first entry. No audit event of its own: the caller's
    payout.paid event covers it."""
    label = f" ({payout.transfer_id})" if payout.transfer_id else ""
    return _post_payout_entry(
        payout, EntryKind.PAYOUT, -payout.amount_minor, f"Payout {payout.id}{label}"
    )


def post_payout_debits(payouts: Sequence[Payout]) -> None:
    """``post_payout_debit`` for a batch of payouts paid in one transaction (a payout wave), in
    two statements: which already have their debit, then one INSERT of the others. The unique
    debit per payout still holds in the database; the caller holds the payouts' rows (it has just
    updated them), so no concurrent writer can add one in between."""
    if not payouts:
        return
    done = set(
        db.session.scalars(
            sa.select(LedgerEntry.payout_id).where(
                LedgerEntry.payout_id.in_([p.id for p in payouts]),
                LedgerEntry.kind == EntryKind.PAYOUT,
            )
        )
    )
    now = utcnow()
    rows = [
        {
            "artist_id": payout.artist_id,
            "kind": EntryKind.PAYOUT,
            "amount_minor": -payout.amount_minor,
            "currency": payout.currency,
            "description": f"Payout {payout.id}"
            + (f" ({payout.transfer_id})" if payout.transfer_id else ""),
            "payout_id": payout.id,
            "created_at": now,
        }
        for payout in payouts
        if payout.id not in done
    ]
    if rows:
        db.session.execute(sa.insert(LedgerEntry), rows)


def post_payout_reversal(
    payout: Payout, amount_minor: int, *, reversed_through: int
) -> LedgerEntry:
    """A transfer reversed by Stripe, in full or in part: the amount comes back (positive), one
    entry per cumulative reversed total (``reversed_through``: the transfer's ``amount_reversed``
    after this reversal, as Stripe reports it; never derived here, so that a retry cannot make
    a new total). Idempotent: a second call with the same total returns the first entry. No
    audit event of its own: the caller's payout.reversed event covers it."""
    if any(
        isinstance(value, bool) or not isinstance(value, int)
        for value in (amount_minor, reversed_through)
    ):
        raise ValidationError("The reversed amount must be a whole number of minor units.")
    if not 0 < amount_minor <= payout.amount_minor:
        raise ValidationError(
            f"A reversal of payout {payout.id} must be between 1 and {payout.amount_minor}.",
            details={"amount_minor": ["Out of range for this payout."]},
        )
    if not amount_minor <= reversed_through <= payout.amount_minor:
        raise ValidationError(
            f"The total reversed of payout {payout.id} must be between {amount_minor} and"
            f" {payout.amount_minor}.",
            details={"reversed_through": ["Out of range for this payout."]},
        )
    return _post_payout_entry(
        payout,
        EntryKind.PAYOUT_REVERSAL,
        amount_minor,
        f"Payout {payout.id} reversed" + (f" ({payout.transfer_id})" if payout.transfer_id else ""),
        reversed_through=reversed_through,
    )


# --- the ledger: reading -------------------------------------------------------------------


def _balance_columns(artist_id: int) -> tuple[Any, Any]:
    total = (
        sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.artist_id == artist_id)
        .scalar_subquery()
    )
    ledger_currency = (
        sa.select(LedgerEntry.currency)
        .where(LedgerEntry.artist_id == artist_id)
        .order_by(LedgerEntry.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    card_currency = (
        sa.select(RateCard.currency)
        .join(TermsAcceptance, TermsAcceptance.terms_id == RateCard.terms_id)
        .where(TermsAcceptance.user_id == artist_id)
        .order_by(TermsAcceptance.accepted_at.desc(), TermsAcceptance.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return total, sa.func.coalesce(ledger_currency, card_currency, DEFAULT_CURRENCY)


def balance(artist_id: int) -> tuple[int, str]:
    """(balance in minor units, currency) in one statement, whatever the number of entries. The
    currency is the ledger's, else the artist's latest rate card's."""
    total, currency = _balance_columns(artist_id)
    row = db.session.execute(sa.select(total, currency)).one()
    return int(row[0]), row[1]


def payable(artist_id: int) -> int:
    """What a payout may take now: the balance less the payouts still in flight (pending or
    submitted), never below 0. One statement."""
    total, _ = _balance_columns(artist_id)
    in_flight = (
        sa.select(sa.func.coalesce(sa.func.sum(Payout.amount_minor), 0))
        .where(Payout.artist_id == artist_id, Payout.status.in_(list(IN_FLIGHT)))
        .scalar_subquery()
    )
    amount = int(db.session.scalar(sa.select(total - in_flight)))
    return max(amount, 0)


def is_leaving(artist: User) -> bool:
    """Leaving is settled (SPEC §3.5): with no active membership (the cohort closed, the
    membership ended), or with grants none of which is current (all revoked or expired), the
    whole balance is payable whatever the minimum payout."""
    if (
        db.session.scalar(
            sa.select(Membership.id).where(
                Membership.user_id == artist.id, Membership.status == MembershipStatus.ACTIVE
            )
        )
        is None
    ):
        return True
    now = utcnow()
    grants = db.session.execute(
        sa.select(Grant.revoked_at, Grant.expires_at).where(Grant.user_id == artist.id)
    ).all()
    if not grants:
        return False  # waiting for a first grant is not leaving
    return not any(
        revoked is None and (expires is None or expires > now) for revoked, expires in grants
    )


def entries_query(artist_id: int) -> sa.Select:
    """The artist's entries newest first, with their terms and contribution in one statement."""
    return (
        sa.select(LedgerEntry)
        .where(LedgerEntry.artist_id == artist_id)
        .options(so.joinedload(LedgerEntry.terms), so.joinedload(LedgerEntry.contribution))
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
    )


@dataclass
class LedgerPage:
    balance_minor: int
    currency: str
    entries: list[LedgerEntry]
    page: int
    page_size: int
    total: int

    @property
    def total_pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def pagination(self) -> LedgerPage:
        return self


def ledger_page(artist_id: int, page: int = 1, page_size: int = PAGE_SIZE) -> LedgerPage:
    """Balance and one page of entries: three statements, whatever the number of entries."""
    page = max(int(page), 1)
    page_size = min(max(int(page_size), 1), MAX_PAGE_SIZE)
    amount, currency = balance(artist_id)
    total = db.session.scalar(
        sa.select(sa.func.count(LedgerEntry.id)).where(LedgerEntry.artist_id == artist_id)
    )
    entries = list(
        db.session.scalars(
            entries_query(artist_id).limit(page_size).offset((page - 1) * page_size)
        ).unique()
    )
    return LedgerPage(amount, currency, entries, page, page_size, total)


# --- statements ----------------------------------------------------------------------------


@dataclass
class StatementLine:
    entry: LedgerEntry
    balance_after_minor: int


@dataclass
class Statement:
    artist: User
    date_from: dt.date
    date_to: dt.date
    currency: str
    opening_balance_minor: int
    closing_balance_minor: int
    lines: list[StatementLine]
    payouts: list[Payout]

    @property
    def credits_minor(self) -> int:
        return sum(line.entry.amount_minor for line in self.lines if line.entry.amount_minor > 0)

    @property
    def debits_minor(self) -> int:
        return sum(line.entry.amount_minor for line in self.lines if line.entry.amount_minor < 0)


def statement(artist: User, date_from: dt.date | None, date_to: dt.date | None) -> Statement:
    """Opening balance, the period's entries (each with the rate-card version that priced it and
    the running balance), closing balance and the period's payouts with their transfer ids.
    The period is whole UTC days, both ends included; by default the current month."""
    today = _today()
    date_to = date_to or today
    date_from = date_from or date_to.replace(day=1)
    if date_from > date_to:
        raise ValidationError(
            "The period ends before it starts.", details={"to": ["Give a day on or after from."]}
        )
    start, _ = _day_bounds(date_from)
    _, end = _day_bounds(date_to)
    opening = int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(LedgerEntry.amount_minor), 0)).where(
                LedgerEntry.artist_id == artist.id, LedgerEntry.created_at < start
            )
        )
    )
    entries = db.session.scalars(
        sa.select(LedgerEntry)
        .where(
            LedgerEntry.artist_id == artist.id,
            LedgerEntry.created_at >= start,
            LedgerEntry.created_at < end,
        )
        .options(so.joinedload(LedgerEntry.terms), so.joinedload(LedgerEntry.contribution))
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).unique()
    running = opening
    lines = []
    for entry in entries:
        running += entry.amount_minor
        lines.append(StatementLine(entry, running))
    payouts = list(
        db.session.scalars(
            sa.select(Payout)
            .where(
                Payout.artist_id == artist.id, Payout.created_at >= start, Payout.created_at < end
            )
            .order_by(Payout.created_at, Payout.id)
        )
    )
    _, currency = balance(artist.id)
    return Statement(artist, date_from, date_to, currency, opening, running, lines, payouts)


def statement_dict(st: Statement) -> dict[str, Any]:
    return {
        "artist_id": st.artist.id,
        "artist_name": st.artist.name,
        "from": st.date_from.isoformat(),
        "to": st.date_to.isoformat(),
        "currency": st.currency,
        "opening_balance_minor": st.opening_balance_minor,
        "credits_minor": st.credits_minor,
        "debits_minor": st.debits_minor,
        "closing_balance_minor": st.closing_balance_minor,
        "entries": [
            {
                **entry_dict(line.entry),
                "balance_after_minor": line.balance_after_minor,
            }
            for line in st.lines
        ],
        "payouts": [payout_dict(p) for p in st.payouts],
    }


def entry_dict(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "kind": entry.kind,
        "description": entry.description,
        "amount_minor": entry.amount_minor,
        "currency": entry.currency,
        "contribution_id": entry.contribution_id,
        "contribution_kind": entry.contribution.kind if entry.contribution else None,
        "payout_id": entry.payout_id,
        "reverses_entry_id": entry.reverses_entry_id,
        "terms_id": entry.terms_id,
        "terms_label": entry.terms.label if entry.terms else None,
    }


def payout_dict(payout: Payout) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": payout.id,
        "run_id": payout.run_id,
        "amount_minor": payout.amount_minor,
        "currency": payout.currency,
        "status": payout.status,
        "transfer_id": payout.transfer_id,
        "settlement": payout.settlement,
        "failure_message": payout.failure_message,
        "amount_reversed": payout.amount_reversed,
        "created_at": iso(payout.created_at),
        "submitted_at": iso(payout.submitted_at),
        "paid_at": iso(payout.paid_at),
        "failed_at": iso(payout.failed_at),
        "reversed_at": iso(payout.reversed_at),
    }


def decimal_amount(amount_minor: int, currency: str) -> str:
    """Minor units as a plain decimal string for spreadsheets: 12345 USD → "123.45"."""
    exponent = CURRENCY_EXPONENTS.get(currency.upper(), 2)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{major}.{minor:0{exponent}d}" if exponent else f"{sign}{major}"


def _cell(value: Any) -> Any:
    """A spreadsheet runs a cell starting with = + - @ as a formula: text written by people
    (titles, reasons) is quoted so a statement never executes anything."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


CSV_HEADER = (
    "row",
    "date",
    "kind",
    "description",
    "terms",
    "amount_minor",
    "amount",
    "currency",
    "balance_minor",
    "status",
    "transfer_id",
    "reference",
)


def statement_csv(st: Statement) -> str:
    """One table: an opening row, one row per entry with its rate-card version and running
    balance, a closing row, then one row per payout with its status and transfer id."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    cur = st.currency

    def amount(value: int | None) -> tuple[Any, Any]:
        return ("", "") if value is None else (value, decimal_amount(value, cur))

    writer.writerow(
        ["opening", st.date_from.isoformat(), "", "Opening balance", "", "", "", cur]
        + [st.opening_balance_minor, "", "", ""]
    )
    for line in st.lines:
        e = line.entry
        kind = e.contribution.kind if e.contribution else e.kind
        reference = (
            f"contribution {e.contribution_id}"
            if e.contribution_id
            else f"payout {e.payout_id}"
            if e.payout_id
            else f"entry {e.reverses_entry_id}"
            if e.reverses_entry_id
            else ""
        )
        writer.writerow(
            [
                "entry",
                e.created_at.date().isoformat(),
                kind,
                _cell(e.description),
                _cell(e.terms.label) if e.terms else "",
                *amount(e.amount_minor),
                e.currency,
                line.balance_after_minor,
                "",
                "",
                reference,
            ]
        )
    writer.writerow(
        ["closing", st.date_to.isoformat(), "", "Closing balance", "", "", "", cur]
        + [st.closing_balance_minor, "", "", ""]
    )
    for p in st.payouts:
        writer.writerow(
            [
                "payout",
                (p.paid_at or p.created_at).date().isoformat(),
                "payout",
                f"Payout {p.id}" + (" (settlement)" if p.settlement else ""),
                "",
                *amount(p.amount_minor),
                p.currency,
                "",
                p.status,
                p.transfer_id or "",
                f"run {p.run_id}",
            ]
        )
    return out.getvalue()


# --- the artist's data export --------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _columns(obj: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    mapper = sa.inspect(obj).mapper
    return {
        attr.key: _plain(getattr(obj, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in exclude
    }


def export_artist_data(artist: User) -> dict[str, Any]:
    """Everything the program holds about the artist as one JSON-able dict (SPEC §3.5): profile,
    memberships and terms acceptances, grants, requests with decisions and appeal,
    contributions, ledger and balance, payout account and payouts, and their audit record."""
    submissions = db.session.scalars(
        sa.select(Submission)
        .where(Submission.artist_id == artist.id)
        .options(so.selectinload(Submission.decisions), so.selectinload(Submission.appeal))
        .order_by(Submission.id)
    ).all()
    memberships = db.session.scalars(
        sa.select(Membership)
        .where(Membership.user_id == artist.id)
        .options(so.joinedload(Membership.cohort))
        .order_by(Membership.id)
    ).unique()
    acceptances = db.session.execute(
        sa.select(TermsAcceptance, Terms.label)
        .join(Terms, Terms.id == TermsAcceptance.terms_id)
        .where(TermsAcceptance.user_id == artist.id)
        .order_by(TermsAcceptance.accepted_at, TermsAcceptance.id)
    ).all()
    grants = db.session.scalars(
        sa.select(Grant).where(Grant.user_id == artist.id).order_by(Grant.id)
    )
    contributions = db.session.scalars(
        sa.select(Contribution).where(Contribution.artist_id == artist.id).order_by(Contribution.id)
    )
    entries = db.session.scalars(
        sa.select(LedgerEntry)
        .where(LedgerEntry.artist_id == artist.id)
        .options(so.joinedload(LedgerEntry.terms), so.joinedload(LedgerEntry.contribution))
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).unique()
    payouts = db.session.scalars(
        sa.select(Payout).where(Payout.artist_id == artist.id).order_by(Payout.id)
    )
    account = db.session.scalar(
        sa.select(PayoutAccount).where(PayoutAccount.artist_id == artist.id)
    )
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.artist_id == artist.id).order_by(AuditEvent.seq)
    )
    amount, currency = balance(artist.id)
    return {
        "exported_at": utcnow().isoformat(),
        "artist": {
            "id": artist.id,
            "name": artist.name,
            "email": artist.email,
            "external_id": artist.external_id,
            "created_at": _plain(artist.created_at),
            "last_login_at": _plain(artist.last_login_at),
        },
        "memberships": [{**_columns(m), "cohort_name": m.cohort.name} for m in memberships],
        "terms_acceptances": [
            {**_columns(acceptance), "terms_label": label} for acceptance, label in acceptances
        ],
        "grants": [_columns(g) for g in grants],
        "requests": [
            {
                **_columns(s, exclude=("version", "queue_at")),
                "decisions": [_columns(d) for d in s.decisions],
                "appeal": _columns(s.appeal) if s.appeal else None,
            }
            for s in submissions
        ],
        "contributions": [_columns(c) for c in contributions],
        "ledger": {
            "balance_minor": amount,
            "currency": currency,
            "entries": [entry_dict(e) for e in entries],
        },
        "payout_account": (
            _columns(account, exclude=("status_as_of",)) if account is not None else None
        ),
        "payouts": [payout_dict(p) for p in payouts],
        "audit_record": [exported(e) for e in events],
    }

"""Cohorts, terms versions, invitations, memberships and terms acceptance."""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app

from access_program import audit
from access_program.access import service as access
from access_program.access.models import Grant
from access_program.accounts import service as accounts
from access_program.accounts.models import Role, User
from access_program.audit.service import Actor
from access_program.cohorts.models import (
    COHORT_TRANSITIONS,
    SEVERITIES,
    Cohort,
    CohortStatus,
    Invitation,
    InvitationStatus,
    Membership,
    MembershipStatus,
    OnDeadline,
    PolicyClause,
    RateCard,
    Terms,
    TermsAcceptance,
    TermsStatus,
)
from access_program.db import db, utcnow
from access_program.errors import Conflict, Gone, InvalidTransition, NotFound, ValidationError
from access_program.outbox.service import queue_email, queue_many

COHORT_FIELDS = (
    "name",
    "description",
    "capacity",
    "review_hours",
    "on_deadline",
    "auto_grant",
    "two_person_rule",
    "starts_on",
    "ends_on",
)


# --- cohorts -------------------------------------------------------------------------------

#: Ids are 32-bit integers in every table; a larger number in a URL names nothing (and must not
#: reach the database, where it overflows the parameter).
MAX_ID = 2**31 - 1


def _valid_id(value: int) -> bool:
    return isinstance(value, int) and 0 < value <= MAX_ID


def get_cohort(cohort_id: int, *, lock: bool = False) -> Cohort:
    """The cohort, or 404. ``lock`` takes its row lock (SELECT … FOR UPDATE) and reloads it, so
    what the caller reads next is what the lock protects, not what the session cached."""
    if not _valid_id(cohort_id):
        raise NotFound(f"No cohort {cohort_id}.")
    query = sa.select(Cohort).where(Cohort.id == cohort_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    cohort = db.session.scalar(query)
    if cohort is None:
        raise NotFound(f"No cohort {cohort_id}.")
    return cohort


def cohorts_query() -> sa.Select:
    return sa.select(Cohort).order_by(Cohort.created_at.desc(), Cohort.id.desc())


def list_cohorts() -> list[Cohort]:
    return list(db.session.scalars(cohorts_query()))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _check_unique_name(name: str, cohort_id: int | None = None) -> None:
    query = sa.select(Cohort.id).where(sa.func.lower(Cohort.name) == name.strip().lower())
    if cohort_id is not None:
        query = query.where(Cohort.id != cohort_id)
    if db.session.scalar(query) is not None:
        raise Conflict(f"A cohort named {name!r} already exists; pick another name.")


def _clean_settings(fields: dict[str, Any], current: Cohort | None = None) -> dict[str, Any]:
    """Check cohort settings whoever sends them (API, form, script): 422 with a message per
    field. The database constraints would otherwise surface as a 500."""
    errors: dict[str, list[str]] = {}
    cleaned = {k: v for k, v in fields.items() if k in COHORT_FIELDS}
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
        if not cleaned["name"]:
            errors["name"] = ["Give the cohort a name."]
        elif len(cleaned["name"]) > 120:
            errors["name"] = ["Use at most 120 characters."]
    for key, label in (("capacity", "Capacity"), ("review_hours", "The review deadline")):
        if key in cleaned:
            value = cleaned[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                errors[key] = [f"{label} must be a whole number of at least 1."]
    if "on_deadline" in cleaned and cleaned["on_deadline"] not in set(OnDeadline):
        errors["on_deadline"] = [f"Use one of: {', '.join(OnDeadline)}."]
    if "description" in cleaned and cleaned["description"] is None:
        cleaned["description"] = ""
    starts_on = cleaned.get("starts_on", current.starts_on if current else None)
    ends_on = cleaned.get("ends_on", current.ends_on if current else None)
    if starts_on and ends_on and ends_on < starts_on:
        errors["ends_on"] = ["The end date is before the start date."]
    if errors:
        raise ValidationError("Some cohort settings are invalid.", details=errors)
    return cleaned


def create_cohort(actor: Actor, **fields: Any) -> Cohort:
    """A new cohort in draft. Audit: cohort.created."""
    terms_id = fields.pop("terms_id", None)
    if "name" not in fields:
        raise ValidationError("A cohort needs a name.", details={"name": ["Give it a name."]})
    settings = _clean_settings(fields)
    _check_unique_name(settings["name"])
    terms = get_published_terms(terms_id) if terms_id is not None else None
    cohort = Cohort(**settings)
    cohort.terms = terms
    db.session.add(cohort)
    db.session.flush()
    audit.record(
        actor,
        "cohort.created",
        "cohort",
        cohort.id,
        data={k: _jsonable(getattr(cohort, k)) for k in (*COHORT_FIELDS, "terms_id")},
    )
    return cohort


def update_cohort(actor: Actor, cohort: Cohort, **fields: Any) -> Cohort:
    """Change settings; a new ``terms_id`` moves the cohort to those terms. Audit:
    cohort.updated (and cohort.terms_changed)."""
    terms_id = fields.pop("terms_id", None)
    # Locked and reloaded: invitations count seats under this lock (a lower capacity must see
    # them all), and a concurrent closure must not be undone by a stale copy.
    cohort = get_cohort(cohort.id, lock=True)
    settings = _clean_settings(fields, cohort)
    if "name" in settings:
        _check_unique_name(settings["name"], cohort.id)
    new_terms = None
    if terms_id is not None and terms_id != cohort.terms_id:
        new_terms = get_published_terms(terms_id)
    if "capacity" in settings and settings["capacity"] != cohort.capacity:
        taken = _seats_taken(cohort)
        if settings["capacity"] < taken:
            raise Conflict(
                f"Capacity {settings['capacity']} is below the {taken} seats already taken"
                " (members and pending invitations); withdraw invitations first.",
                code="capacity_below_taken",
            )
    changes = {}
    for key, value in settings.items():
        if getattr(cohort, key) != value:
            changes[key] = {"from": _jsonable(getattr(cohort, key)), "to": _jsonable(value)}
            setattr(cohort, key, value)
    if changes:
        audit.record(actor, "cohort.updated", "cohort", cohort.id, data=changes)
    if new_terms is not None:
        change_cohort_terms(actor, cohort, new_terms)
    return cohort


def _transition(actor: Actor, cohort: Cohort, target: CohortStatus) -> None:
    current = CohortStatus(cohort.status)
    if target not in COHORT_TRANSITIONS[current]:
        raise InvalidTransition(f"Cohort {cohort.name!r} is {current}; it cannot become {target}.")
    cohort.status = target
    audit.record(
        actor,
        f"cohort.{'opened' if target == CohortStatus.OPEN else 'closed'}",
        "cohort",
        cohort.id,
        data={"from": current, "to": target},
    )


def open_cohort(actor: Actor, cohort: Cohort) -> Cohort:
    """draft → open; needs published terms. Audit: cohort.opened."""
    cohort = get_cohort(cohort.id, lock=True)
    if cohort.status == CohortStatus.DRAFT and cohort.terms is None:
        raise Conflict("Set published terms on the cohort before opening it.")
    _transition(actor, cohort, CohortStatus.OPEN)
    return cohort


def _locked(query: sa.Select, of: Any = None) -> list[Any]:
    """Rows taken with their row locks, reloaded (the session may hold older copies). On
    PostgreSQL a row changed meanwhile is checked against the WHERE again once it is free."""
    locked = query.with_for_update(of=of).execution_options(populate_existing=True)
    return list(db.session.scalars(locked))


def close_cohort(actor: Actor, cohort: Cohort) -> Cohort:
    """→ closed: pending invitations are withdrawn, grants revoked (program_end) and
    memberships ended. Audit: cohort.closed (plus one event per affected record)."""
    cohort = get_cohort(cohort.id, lock=True)
    from_status = CohortStatus(cohort.status)
    if CohortStatus.CLOSED not in COHORT_TRANSITIONS[from_status]:
        raise InvalidTransition(f"Cohort {cohort.name!r} is already {from_status}.")
    # Every row this changes is locked before the first audit event: that event holds the
    # chain's lock until commit, and a withdrawal or revocation holding one of these rows while
    # it waits for the chain would otherwise deadlock with us.
    pending = _locked(
        sa.select(Invitation)
        .where(Invitation.cohort_id == cohort.id, Invitation.status == InvitationStatus.PENDING)
        .order_by(Invitation.id)
    )
    members = _locked(
        sa.select(Membership)
        .where(Membership.cohort_id == cohort.id, Membership.status == MembershipStatus.ACTIVE)
        .order_by(Membership.id)
    )
    _locked(
        sa.select(Grant)
        .join(Membership, Membership.id == Grant.membership_id)
        .where(Membership.cohort_id == cohort.id, Grant.revoked_at.is_(None))
        .order_by(Grant.id),
        of=Grant,
    )
    _transition(actor, cohort, CohortStatus.CLOSED)
    cohort.closed_at = utcnow()
    for invitation in pending:
        _set_invitation_status(actor, invitation, InvitationStatus.WITHDRAWN, "cohort closed")
    access.revoke_all(actor, cohort, "program_end", f"{cohort.name} has closed.")
    now = utcnow()
    for membership in members:
        membership.status = MembershipStatus.ENDED
        membership.ended_at = now
        audit.record(
            actor,
            "membership.ended",
            "membership",
            membership.id,
            artist_id=membership.user_id,
            data={"cohort_id": cohort.id, "why": "cohort closed"},
        )
    return cohort


def member_count(cohort: Cohort) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Membership.id)).where(
            Membership.cohort_id == cohort.id, Membership.status == MembershipStatus.ACTIVE
        )
    )


def pending_invitation_count(cohort: Cohort) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Invitation.id)).where(
            Invitation.cohort_id == cohort.id,
            Invitation.status == InvitationStatus.PENDING,
            Invitation.expires_at > utcnow(),
        )
    )


def _seats_taken(cohort: Cohort) -> int:
    return member_count(cohort) + pending_invitation_count(cohort)


def active_members(cohort: Cohort) -> list[Membership]:
    return list(
        db.session.scalars(
            sa.select(Membership)
            .join(User)
            .where(Membership.cohort_id == cohort.id, Membership.status == MembershipStatus.ACTIVE)
            .order_by(User.name)
        )
    )


# --- terms ---------------------------------------------------------------------------------


def get_terms(terms_id: int) -> Terms:
    terms = db.session.get(Terms, terms_id) if _valid_id(terms_id) else None
    if terms is None:
        raise NotFound(f"No terms version {terms_id}.")
    return terms


def get_published_terms(terms_id: int) -> Terms:
    """The published version a cohort may move to (422 if unknown, 409 if a draft)."""
    terms = db.session.get(Terms, terms_id) if _valid_id(terms_id) else None
    if terms is None:
        raise ValidationError(
            "Unknown terms version.", details={"terms_id": [f"No terms version {terms_id}."]}
        )
    if not terms.is_published:
        raise Conflict(f"Terms {terms.label!r} are a draft; publish them first.")
    return terms


def terms_query() -> sa.Select:
    return sa.select(Terms).order_by(Terms.id.desc())


def list_terms() -> list[Terms]:
    return list(db.session.scalars(terms_query()))


RATE_KEYS = (
    "feedback_hour",
    "approved_output",
    "marketing_use",
    "monthly_stipend",
    "minimum_payout",
)
OPTIONAL_RATE_KEYS = ("approved_output", "monthly_stipend", "minimum_payout")


def _amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**12


def _rate_card_columns(rate_card: dict[str, Any]) -> dict[str, Any]:
    """The rate card as table columns; 422 with a message per amount that is not a whole,
    non-negative number of minor units."""
    errors: dict[str, list[str]] = {}
    currency = rate_card.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        errors["currency"] = ["Use a three-letter ISO currency code, such as USD."]
    columns: dict[str, Any] = {"currency": currency.upper() if isinstance(currency, str) else ""}
    flat = {key: rate_card.get(key) for key in RATE_KEYS}
    for key in OPTIONAL_RATE_KEYS:
        flat[key] = 0 if flat[key] is None else flat[key]
    for kind, prefix in (("bug_report", "bug"), ("red_team_finding", "red_team")):
        fees = rate_card.get(kind) or {}
        for severity in SEVERITIES:
            flat[f"{prefix}_{severity}"] = fees.get(severity) if isinstance(fees, dict) else None
    for key, value in flat.items():
        if not _amount(value):
            errors[key] = ["Give a whole, non-negative amount in minor units."]
        columns[key] = value
    if errors:
        raise ValidationError("The rate card is incomplete.", details=errors)
    return columns


def _clean_clauses(clauses: list[dict[str, str]]) -> list[dict[str, str]]:
    cleaned = [
        {
            "code": (c.get("code") or "").strip(),
            "title": (c.get("title") or "").strip(),
            "text": (c.get("text") or "").strip(),
        }
        for c in clauses
    ]
    errors = [
        f"Clause {i}: give a code, a title and a text."
        for i, c in enumerate(cleaned, start=1)
        if not all(c.values())
    ]
    codes = [c["code"] for c in cleaned if c["code"]]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        errors.append(f"Duplicate clause code: {', '.join(duplicates)}")
    if errors:
        raise ValidationError("The content policy is invalid.", details={"clauses": errors})
    return cleaned


def _apply_terms_content(terms: Terms, body: str, clauses: list[dict], rate_card: dict) -> None:
    if not body or not body.strip():
        raise ValidationError("The terms need a body.", details={"body": ["Write the terms."]})
    clauses = _clean_clauses(clauses)
    columns = _rate_card_columns(rate_card)
    terms.body = body
    # Clauses are updated in place by code: replacing a row with a new one of the same code
    # would insert before deleting and break the (terms_id, code) unique constraint.
    existing = {c.code: c for c in terms.clauses}
    kept = []
    for position, spec in enumerate(clauses):
        clause = existing.pop(spec["code"], None) or PolicyClause(code=spec["code"])
        clause.title, clause.text, clause.position = spec["title"], spec["text"], position
        kept.append(clause)
    terms.clauses = kept
    if terms.rate_card is None:
        terms.rate_card = RateCard(**columns)
    else:
        for key, value in columns.items():
            setattr(terms.rate_card, key, value)


def create_terms(
    actor: Actor, *, label: str, body: str, clauses: list[dict], rate_card: dict
) -> Terms:
    """A new draft terms version. Audit: terms.created."""
    label = (label or "").strip()
    if not label:
        raise ValidationError("The terms need a label.", details={"label": ["Give a label."]})
    if db.session.scalar(sa.select(Terms.id).where(Terms.label == label)) is not None:
        raise Conflict(f"Terms labelled {label!r} already exist; use another label.")
    terms = Terms(label=label, body="", created_by_id=actor.id if actor.type == "user" else None)
    _apply_terms_content(terms, body, clauses, rate_card)
    db.session.add(terms)
    db.session.flush()
    audit.record(
        actor,
        "terms.created",
        "terms",
        terms.id,
        data={"label": label, "clauses": [c.code for c in terms.clauses]},
    )
    return terms


def update_terms(
    actor: Actor, terms: Terms, *, body: str, clauses: list[dict], rate_card: dict
) -> Terms:
    """Edit a draft. Published terms never change (409). Audit: terms.updated."""
    # Locked and reloaded: an edit racing a publication must see it and be refused.
    db.session.refresh(terms, with_for_update=True)
    if terms.is_published:
        raise Conflict(
            f"Terms {terms.label!r} are published and cannot change; create a new version.",
            code="terms_published",
        )
    _apply_terms_content(terms, body, clauses, rate_card)
    db.session.flush()
    audit.record(
        actor,
        "terms.updated",
        "terms",
        terms.id,
        data={"label": terms.label, "clauses": [c.code for c in terms.clauses]},
    )
    return terms


def publish_terms(actor: Actor, terms: Terms) -> Terms:
    """draft → published (immutable from now on). Audit: terms.published."""
    db.session.refresh(terms, with_for_update=True)
    if terms.is_published:
        raise InvalidTransition(f"Terms {terms.label!r} are already published.")
    errors = {}
    if not terms.clauses:
        errors["clauses"] = ["Add at least one clause to the content policy."]
    if terms.rate_card is None:
        errors["rate_card"] = ["Add a rate card."]
    if errors:
        raise ValidationError("The terms are not ready to publish.", details=errors)
    terms.status = TermsStatus.PUBLISHED
    terms.published_at = utcnow()
    audit.record(
        actor,
        "terms.published",
        "terms",
        terms.id,
        data={
            "label": terms.label,
            "clauses": [c.code for c in terms.clauses],
            "rate_card": terms.rate_card.as_dict(),
        },
    )
    return terms


def change_cohort_terms(actor: Actor, cohort: Cohort, terms: Terms) -> Cohort:
    """Move a cohort to new published terms; members must accept them before their access is
    active again. Audit: cohort.terms_changed; each active member gets an email."""
    if not terms.is_published:
        raise Conflict(f"Terms {terms.label!r} are a draft; publish them first.")
    if cohort.status == CohortStatus.CLOSED:
        raise InvalidTransition(f"Cohort {cohort.name!r} is closed; its terms no longer change.")
    if cohort.terms_id == terms.id:
        return cohort
    previous = cohort.terms
    cohort.terms = terms
    recipients = [(m.user_id, m.user.email) for m in active_members(cohort)]
    audit.record(
        actor,
        "cohort.terms_changed",
        "cohort",
        cohort.id,
        data={
            "from": previous.id if previous else None,
            "to": terms.id,
            "label": terms.label,
            "members_to_accept": len(recipients),
        },
    )
    queue_many(
        "terms.new",
        recipients,
        f"New terms for {cohort.name}: please review and accept",
        f"The terms of {cohort.name} are now {terms.label!r}. Sign in to read what changed and "
        "accept them; your tool access resumes once you do.",
    )
    return cohort


@dataclass
class TermsDiff:
    body: list[str]
    clauses_added: list[PolicyClause] = field(default_factory=list)
    clauses_removed: list[PolicyClause] = field(default_factory=list)
    clauses_changed: list[tuple[PolicyClause, PolicyClause]] = field(default_factory=list)
    rates_changed: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.body
            or self.clauses_added
            or self.clauses_removed
            or self.clauses_changed
            or self.rates_changed
        )


def _flat_rates(rate_card: RateCard | None) -> dict[str, Any]:
    if rate_card is None:
        return {}
    flat: dict[str, Any] = {}
    for key, value in rate_card.as_dict().items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def diff_terms(old: Terms | None, new: Terms) -> TermsDiff:
    """What changed from the version a member accepted (body lines, clauses, rates)."""
    old_body = old.body.splitlines() if old else []
    body = list(
        difflib.unified_diff(
            old_body,
            new.body.splitlines(),
            fromfile=old.label if old else "(none)",
            tofile=new.label,
            lineterm="",
        )
    )
    old_clauses = {c.code: c for c in old.clauses} if old else {}
    new_clauses = {c.code: c for c in new.clauses}
    diff = TermsDiff(body=body)
    diff.clauses_added = [c for code, c in new_clauses.items() if code not in old_clauses]
    diff.clauses_removed = [c for code, c in old_clauses.items() if code not in new_clauses]
    diff.clauses_changed = [
        (old_clauses[code], c)
        for code, c in new_clauses.items()
        if code in old_clauses
        and (old_clauses[code].title, old_clauses[code].text) != (c.title, c.text)
    ]
    old_rates, new_rates = _flat_rates(old.rate_card if old else None), _flat_rates(new.rate_card)
    diff.rates_changed = [
        (key, old_rates.get(key), value)
        for key, value in new_rates.items()
        if old_rates.get(key) != value
    ]
    return diff


# --- memberships ---------------------------------------------------------------------------


def active_membership(user: User) -> Membership | None:
    return db.session.scalar(
        sa.select(Membership).where(
            Membership.user_id == user.id, Membership.status == MembershipStatus.ACTIVE
        )
    )


def latest_membership(user: User) -> Membership | None:
    return db.session.scalar(
        sa.select(Membership)
        .where(Membership.user_id == user.id)
        .order_by(Membership.joined_at.desc(), Membership.id.desc())
        .limit(1)
    )


def needs_terms_acceptance(membership: Membership) -> bool:
    cohort = membership.cohort
    return cohort.terms_id is not None and membership.accepted_terms_id != cohort.terms_id


def accept_terms_version(user: User, membership: Membership, terms: Terms, ip: str | None) -> None:
    """Record that the member accepted these terms (the cohort's current ones); their access
    needs it. Audit: terms.accepted."""
    if membership.user_id != user.id:
        raise NotFound("No such membership.")
    if membership.status != MembershipStatus.ACTIVE:
        raise Conflict("This membership has ended; there are no terms to accept.")
    if membership.cohort.terms_id != terms.id:
        raise Conflict("These are not the cohort's current terms; reload and accept those.")
    if membership.accepted_terms_id == terms.id:
        raise Conflict(f"You already accepted {terms.label!r}.", code="already_accepted")
    acceptance = db.session.scalar(
        sa.select(TermsAcceptance).where(
            TermsAcceptance.membership_id == membership.id, TermsAcceptance.terms_id == terms.id
        )
    )
    if acceptance is None:
        db.session.add(
            TermsAcceptance(membership_id=membership.id, user_id=user.id, terms_id=terms.id, ip=ip)
        )
    else:
        # The cohort came back to a version accepted before: one row per version, so the row
        # takes the new time; the audit log keeps every acceptance.
        acceptance.accepted_at, acceptance.ip = utcnow(), ip
    previous = membership.accepted_terms_id
    membership.accepted_terms_id = terms.id
    audit.record(
        user.actor,
        "terms.accepted",
        "membership",
        membership.id,
        artist_id=user.id,
        data={"terms_id": terms.id, "label": terms.label, "previous_terms_id": previous, "ip": ip},
    )


def acceptances(user: User) -> list[TermsAcceptance]:
    return list(
        db.session.scalars(
            sa.select(TermsAcceptance)
            .where(TermsAcceptance.user_id == user.id)
            .order_by(TermsAcceptance.accepted_at, TermsAcceptance.id)
        )
    )


# --- invitations ---------------------------------------------------------------------------


def hash_invitation_token(token: str) -> str:
    return accounts.hash_token(token)


def accept_url(token: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/invitations/{token}"


@dataclass
class InviteResult:
    email: str
    status: str
    message: str
    invitation: Invitation | None = None
    token: str | None = None

    @property
    def invitation_id(self) -> int | None:
        return self.invitation.id if self.invitation else None

    @property
    def accept_url(self) -> str | None:
        return accept_url(self.token) if self.token else None


def _clean_email(raw: str) -> str:
    try:
        return validate_email((raw or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError(
            f"Invalid email {raw!r}.", code="invalid_email", details={"email": [str(exc)]}
        ) from None


def _expire_stale(cohort: Cohort, emails: list[str]) -> None:
    """Pending invitations past their expiry hold no seat; mark these emails' as expired so the
    one-pending-per-email index lets a new one in."""
    stale = _locked(
        sa.select(Invitation)
        .where(
            Invitation.cohort_id == cohort.id,
            Invitation.email.in_(emails),
            Invitation.status == InvitationStatus.PENDING,
            Invitation.expires_at <= utcnow(),
        )
        .order_by(Invitation.id)
    )
    for invitation in stale:
        _set_invitation_status(
            Actor.system("invitation expiry"), invitation, InvitationStatus.EXPIRED, "expired"
        )


def _check_open(cohort: Cohort) -> None:
    if cohort.status != CohortStatus.OPEN:
        raise Conflict(
            f"Cohort {cohort.name!r} is {cohort.status}; only an open cohort takes invitations.",
            code="cohort_not_open",
        )


def invite_artist(actor: Actor, cohort: Cohort, raw_email: str) -> tuple[Invitation, str]:
    """Invite one email into an open cohort with a free seat. Audit: invitation.sent.

    The cohort row is locked (SELECT … FOR UPDATE) before the seats are counted, so concurrent
    invitations queue behind each other and cannot overfill it.
    """
    email = _clean_email(raw_email)
    cohort = get_cohort(cohort.id, lock=True)
    _check_open(cohort)
    _expire_stale(cohort, [email])
    existing = db.session.scalar(
        sa.select(Invitation.id).where(
            Invitation.cohort_id == cohort.id,
            Invitation.email == email,
            Invitation.status == InvitationStatus.PENDING,
        )
    )
    if existing is not None:
        raise Conflict(
            f"{email} already has a pending invitation to {cohort.name}; withdraw it to send a new"
            " one.",
            code="duplicate_invitation",
        )
    user = accounts.get_user_by_email(email)
    if user is not None and not user.is_artist:
        raise Conflict(
            f"{email} is a {user.role} account; artists need their own account.",
            code="not_an_artist",
        )
    membership = active_membership(user) if user is not None else None
    if membership is not None and membership.cohort_id == cohort.id:
        raise Conflict(f"{email} is already a member of {cohort.name}.", code="already_member")
    if membership is not None:
        raise Conflict(
            f"{email} is an active member of {membership.cohort.name}; an artist belongs to one"
            " cohort at a time.",
            code="member_elsewhere",
        )
    taken = _seats_taken(cohort)
    if taken >= cohort.capacity:
        raise Conflict(
            f"cohort full: {taken} of {cohort.capacity} seats are taken by members and pending"
            " invitations; withdraw an invitation or raise the capacity.",
            code="cohort_full",
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        cohort_id=cohort.id,
        email=email,
        token_hash=hash_invitation_token(token),
        invited_by_id=actor.id if actor.type == "user" else None,
        expires_at=utcnow() + dt.timedelta(days=current_app.config["INVITATION_TTL_DAYS"]),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        actor,
        "invitation.sent",
        "invitation",
        invitation.id,
        artist_id=user.id if user else None,
        data={
            "email": email,
            "cohort_id": cohort.id,
            "expires_at": invitation.expires_at.isoformat(),
        },
    )
    queue_email(
        "invitation",
        email,
        f"You're invited to {cohort.name}",
        f"You are invited to join {cohort.name}, an early-access program.\n\n"
        f"Read the terms and accept here (the link works once, until "
        f"{invitation.expires_at:%d %b %Y}):\n{accept_url(token)}\n",
        user_id=user.id if user else None,
    )
    return invitation, token


def invite_many(actor: Actor, cohort: Cohort, emails: list[str]) -> list[InviteResult]:
    """Invite each email independently (a savepoint each); one result per row, in order.
    Audit: invitation.sent for each one sent (invitation.expired for stale ones replaced)."""
    cohort = get_cohort(cohort.id, lock=True)
    _check_open(cohort)
    valid = []
    for raw in emails:
        with contextlib.suppress(ValidationError):
            valid.append(_clean_email(raw))
    # Stale invitations of the whole batch are settled first, before any audit event of this
    # transaction holds the chain's lock (see close_cohort).
    _expire_stale(cohort, valid)
    results = []
    for raw in emails:
        try:
            with db.session.begin_nested():
                invitation, token = invite_artist(actor, cohort, raw)
            results.append(
                InviteResult(invitation.email, "sent", "Invitation sent.", invitation, token)
            )
        except (Conflict, ValidationError) as exc:
            status = "invalid" if isinstance(exc, ValidationError) else exc.code
            detail = exc.details.get("email", [exc.message])[0] if exc.details else exc.message
            results.append(InviteResult((raw or "").strip(), status, detail))
    return results


def get_invitation(invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id) if _valid_id(invitation_id) else None
    if invitation is None:
        raise NotFound(f"No invitation {invitation_id}.")
    return invitation


def list_invitations(cohort: Cohort | None = None, status: str | None = None) -> sa.Select:
    query = sa.select(Invitation).order_by(Invitation.created_at.desc(), Invitation.id.desc())
    if cohort is not None:
        query = query.where(Invitation.cohort_id == cohort.id)
    if status:
        query = query.where(Invitation.status == status)
    return query


def _invitee_artist_id(invitation: Invitation) -> int | None:
    if invitation.user_id is not None:
        return invitation.user_id
    user = accounts.get_user_by_email(invitation.email)
    return user.id if user is not None and user.is_artist else None


def _set_invitation_status(
    actor: Actor, invitation: Invitation, status: InvitationStatus, why: str
) -> None:
    invitation.status = status
    invitation.responded_at = utcnow()
    audit.record(
        actor,
        f"invitation.{status}",
        "invitation",
        invitation.id,
        artist_id=_invitee_artist_id(invitation),
        data={"email": invitation.email, "cohort_id": invitation.cohort_id, "why": why},
    )


def withdraw_invitation(actor: Actor, invitation: Invitation) -> Invitation:
    """pending → withdrawn. Audit: invitation.withdrawn."""
    # Locked and reloaded: an acceptance committing meanwhile must not be overwritten.
    db.session.refresh(invitation, with_for_update=True)
    if invitation.status != InvitationStatus.PENDING:
        raise InvalidTransition(
            f"The invitation to {invitation.email} is {invitation.status}; only pending"
            " invitations can be withdrawn."
        )
    _set_invitation_status(actor, invitation, InvitationStatus.WITHDRAWN, "withdrawn by staff")
    return invitation


GONE_WORDS = {
    InvitationStatus.ACCEPTED: "has already been used",
    InvitationStatus.DECLINED: "was declined",
    InvitationStatus.EXPIRED: "has expired",
    InvitationStatus.WITHDRAWN: "was withdrawn by the program team",
}


def _find_invitation(token: str) -> Invitation:
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.token_hash == hash_invitation_token(token or ""))
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid. Check the link in your email.")
    return invitation


def _check_usable(invitation: Invitation) -> None:
    if invitation.status == InvitationStatus.PENDING and invitation.is_expired(utcnow()):
        raise Gone(
            f"This invitation expired on {invitation.expires_at:%d %b %Y}. Ask the program team"
            " for a new one.",
            code="invitation_expired",
        )
    if invitation.status != InvitationStatus.PENDING:
        raise Gone(
            f"This invitation {GONE_WORDS[InvitationStatus(invitation.status)]}."
            + (
                " Sign in with your account instead."
                if invitation.status == InvitationStatus.ACCEPTED
                else " Ask the program team for a new one."
            ),
            code=f"invitation_{invitation.status}",
        )
    if invitation.cohort.status != CohortStatus.OPEN:
        raise Gone(f"{invitation.cohort.name} is no longer taking members.", code="cohort_closed")


def invitation_for_token(token: str) -> Invitation:
    """The pending invitation for this link: 404 if unknown, 410 if used, expired or withdrawn."""
    invitation = _find_invitation(token)
    _check_usable(invitation)
    return invitation


def accept_invitation(
    token: str,
    *,
    accept_terms: bool,
    ip: str | None,
    name: str | None = None,
    password: str | None = None,
    user: User | None = None,
) -> Membership:
    """Accept: make the artist (or use the signed-in one), record the terms acceptance, make the
    membership active and, per cohort setting, grant access.

    Audit: user.created (new artists), invitation.accepted, terms.accepted, grant.created.
    """
    invitation = _find_invitation(token)
    # Lock order as in invite_artist and close_cohort (cohort, then invitation, then the audit
    # chain): two acceptances of one link, or an acceptance racing a withdrawal or a closure,
    # queue here and the second sees the first's outcome.
    cohort = get_cohort(invitation.cohort_id, lock=True)
    db.session.refresh(invitation, with_for_update=True)
    _check_usable(invitation)
    if not accept_terms:
        raise ValidationError(
            "You must accept the terms.", details={"accept_terms": ["Accept the terms to join."]}
        )
    if cohort.terms is None:
        raise Conflict(f"{cohort.name} has no published terms yet; try again later.")
    existing = accounts.get_user_by_email(invitation.email)
    if user is not None and user.email != invitation.email:
        raise Conflict(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}."
        )
    if existing is not None and not existing.is_artist:
        raise Conflict(
            f"{invitation.email} is a {existing.role} account; an artist needs their own account.",
            code="not_an_artist",
        )
    if existing is not None and not existing.active:
        raise Conflict(
            "Your account is disabled; contact the program team.", code="account_disabled"
        )
    if user is None and existing is not None:
        if not password or accounts.authenticate(existing.email, password) is None:
            raise ValidationError(
                "Sign in to accept.",
                details={"password": ["You already have an account: enter its password."]},
            )
        user = existing
    elif user is None:
        errors = {}
        if not name or not name.strip():
            errors["name"] = ["Enter your name."]
        if not password:
            errors["password"] = ["Choose a password."]
        if errors:
            raise ValidationError("Some fields are missing.", details=errors)
        user = accounts.create_user(
            Actor.system("invitation"),
            email=invitation.email,
            name=name,
            role=Role.ARTIST,
            password=password,
        )
    current = active_membership(user)
    if current is not None:
        raise Conflict(
            f"You are already an active member of {current.cohort.name}.", code="already_member"
        )
    membership = db.session.scalar(
        sa.select(Membership).where(
            Membership.cohort_id == cohort.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        membership = Membership(cohort=cohort, user=user)
        db.session.add(membership)
    else:
        membership.status = MembershipStatus.ACTIVE
        membership.ended_at = None
        membership.joined_at = utcnow()
    db.session.flush()
    invitation.user_id = user.id
    invitation.status = InvitationStatus.ACCEPTED
    invitation.responded_at = utcnow()
    audit.record(
        user.actor,
        "invitation.accepted",
        "invitation",
        invitation.id,
        artist_id=user.id,
        data={"cohort_id": cohort.id, "membership_id": membership.id},
    )
    if membership.accepted_terms_id != cohort.terms_id:
        accept_terms_version(user, membership, cohort.terms, ip)
    if cohort.auto_grant:
        access.grant_access(Actor.system("auto-grant on acceptance"), membership)
    return membership


def decline_invitation(token: str) -> Invitation:
    """pending → declined (by whoever holds the link). Audit: invitation.declined."""
    invitation = _find_invitation(token)
    db.session.refresh(invitation, with_for_update=True)
    _check_usable(invitation)
    _set_invitation_status(
        Actor.system("invitation link"), invitation, InvitationStatus.DECLINED, "declined"
    )
    return invitation


def expire_invitations(actor: Actor) -> int:
    """Mark every pending invitation past its expiry as expired. Audit: invitation.expired."""
    stale = _locked(
        sa.select(Invitation)
        .where(Invitation.status == InvitationStatus.PENDING, Invitation.expires_at <= utcnow())
        .order_by(Invitation.id)
    )
    for invitation in stale:
        _set_invitation_status(actor, invitation, InvitationStatus.EXPIRED, "expired")
    return len(stale)


# --- terms as a member reads them ----------------------------------------------------------


def readable_terms(user: User | None, terms_id: int) -> Terms:
    """A terms version this caller may read: published ones for everyone signed in, drafts
    for staff only (others get 404: a draft's existence does not leak)."""
    terms = get_terms(terms_id)
    if not terms.is_published and not (user is not None and user.is_staff):
        raise NotFound(f"No terms version {terms_id}.")
    return terms


def diff_base(user: User | None, terms: Terms) -> Terms | None:
    """What to compare a version with when no other is named: for an artist, the version they
    last accepted; otherwise the published version before it."""
    if user is not None and user.is_artist:
        membership = active_membership(user) or latest_membership(user)
        return membership.accepted_terms if membership else None
    return db.session.scalar(
        sa.select(Terms)
        .where(Terms.id < terms.id, Terms.status == TermsStatus.PUBLISHED)
        .order_by(Terms.id.desc())
        .limit(1)
    )


def accept_current_terms(
    user: User, terms: Terms, *, accept_terms: bool, ip: str | None
) -> TermsAcceptance:
    """An artist accepts their cohort's current terms (after the cohort moved to a new
    version). Audit: terms.accepted."""
    if not accept_terms:
        raise ValidationError(
            "You must accept the terms.", details={"accept_terms": ["Tick to accept the terms."]}
        )
    membership = active_membership(user)
    if membership is None:
        raise Conflict("You are not an active member of a cohort; there are no terms to accept.")
    accept_terms_version(user, membership, terms, ip)
    db.session.flush()
    return db.session.scalar(
        sa.select(TermsAcceptance).where(
            TermsAcceptance.membership_id == membership.id, TermsAcceptance.terms_id == terms.id
        )
    )

"""Cohorts, terms versions, invitations, memberships and terms acceptance."""

from __future__ import annotations

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


def get_cohort(cohort_id: int, *, lock: bool = False) -> Cohort:
    query = sa.select(Cohort).where(Cohort.id == cohort_id)
    if lock:
        query = query.with_for_update()
    cohort = db.session.scalar(query)
    if cohort is None:
        raise NotFound(f"No cohort {cohort_id}.")
    return cohort


def list_cohorts() -> list[Cohort]:
    return list(db.session.scalars(sa.select(Cohort).order_by(Cohort.created_at.desc())))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _check_unique_name(name: str, cohort_id: int | None = None) -> None:
    query = sa.select(Cohort.id).where(sa.func.lower(Cohort.name) == name.strip().lower())
    if cohort_id is not None:
        query = query.where(Cohort.id != cohort_id)
    if db.session.scalar(query) is not None:
        raise Conflict(f"A cohort named {name!r} already exists; pick another name.")


def create_cohort(actor: Actor, **fields: Any) -> Cohort:
    """A new cohort in draft. Audit: cohort.created."""
    _check_unique_name(fields["name"])
    terms_id = fields.pop("terms_id", None)
    cohort = Cohort(**{k: v for k, v in fields.items() if k in COHORT_FIELDS})
    if terms_id is not None:
        cohort.terms = get_published_terms(terms_id)
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
    if "name" in fields:
        _check_unique_name(fields["name"], cohort.id)
    if "capacity" in fields and fields["capacity"] < _seats_taken(cohort):
        raise Conflict(
            f"Capacity {fields['capacity']} is below the {_seats_taken(cohort)} seats already"
            " taken (members and pending invitations)."
        )
    changes = {}
    for key, value in fields.items():
        if key in COHORT_FIELDS and getattr(cohort, key) != value:
            changes[key] = {"from": _jsonable(getattr(cohort, key)), "to": _jsonable(value)}
            setattr(cohort, key, value)
    if changes:
        audit.record(actor, "cohort.updated", "cohort", cohort.id, data=changes)
    if terms_id is not None and terms_id != cohort.terms_id:
        change_cohort_terms(actor, cohort, get_published_terms(terms_id))
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
    if cohort.terms is None:
        raise Conflict("Set published terms on the cohort before opening it.")
    _transition(actor, cohort, CohortStatus.OPEN)
    return cohort


def close_cohort(actor: Actor, cohort: Cohort) -> Cohort:
    """open → closed: pending invitations are withdrawn, grants revoked (program_end) and
    memberships ended. Audit: cohort.closed (plus one event per affected record)."""
    from_status = cohort.status
    _transition(actor, cohort, CohortStatus.CLOSED)
    cohort.closed_at = utcnow()
    if from_status == CohortStatus.DRAFT:
        return cohort
    for invitation in db.session.scalars(
        sa.select(Invitation).where(
            Invitation.cohort_id == cohort.id, Invitation.status == InvitationStatus.PENDING
        )
    ):
        _set_invitation_status(actor, invitation, InvitationStatus.WITHDRAWN, "cohort closed")
    access.revoke_all(actor, cohort, "program_end", "The cohort has closed.")
    for membership in db.session.scalars(
        sa.select(Membership).where(
            Membership.cohort_id == cohort.id, Membership.status == MembershipStatus.ACTIVE
        )
    ):
        membership.status = MembershipStatus.ENDED
        membership.ended_at = utcnow()
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
    terms = db.session.get(Terms, terms_id)
    if terms is None:
        raise NotFound(f"No terms version {terms_id}.")
    return terms


def get_published_terms(terms_id: int) -> Terms:
    terms = db.session.get(Terms, terms_id)
    if terms is None:
        raise ValidationError(
            "Unknown terms version.", details={"terms_id": [f"No terms version {terms_id}."]}
        )
    if not terms.is_published:
        raise Conflict(f"Terms {terms.label!r} are a draft; publish them first.")
    return terms


def list_terms() -> list[Terms]:
    return list(db.session.scalars(sa.select(Terms).order_by(Terms.id.desc())))


def _rate_card_columns(rate_card: dict[str, Any]) -> dict[str, Any]:
    columns = {
        "currency": rate_card["currency"].upper(),
        "feedback_hour": rate_card["feedback_hour"],
        "approved_output": rate_card.get("approved_output", 0),
        "marketing_use": rate_card["marketing_use"],
        "monthly_stipend": rate_card.get("monthly_stipend", 0),
        "minimum_payout": rate_card.get("minimum_payout", 0),
    }
    for severity in SEVERITIES:
        columns[f"bug_{severity}"] = rate_card["bug_report"][severity]
        columns[f"red_team_{severity}"] = rate_card["red_team_finding"][severity]
    return columns


def _check_clauses(clauses: list[dict[str, str]]) -> None:
    codes = [c["code"].strip() for c in clauses]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise ValidationError(
            "Clause codes must be unique.",
            details={"clauses": [f"Duplicate clause code: {', '.join(duplicates)}"]},
        )


def _apply_terms_content(terms: Terms, body: str, clauses: list[dict], rate_card: dict) -> None:
    _check_clauses(clauses)
    terms.body = body
    terms.clauses = [
        PolicyClause(code=c["code"].strip(), title=c["title"].strip(), text=c["text"], position=i)
        for i, c in enumerate(clauses)
    ]
    columns = _rate_card_columns(rate_card)
    if terms.rate_card is None:
        terms.rate_card = RateCard(**columns)
    else:
        for key, value in columns.items():
            setattr(terms.rate_card, key, value)


def create_terms(
    actor: Actor, *, label: str, body: str, clauses: list[dict], rate_card: dict
) -> Terms:
    """A new draft terms version. Audit: terms.created."""
    label = label.strip()
    if db.session.scalar(sa.select(Terms.id).where(Terms.label == label)) is not None:
        raise Conflict(f"Terms labelled {label!r} already exist; use another label.")
    terms = Terms(label=label, body="", created_by_id=actor.id if actor.type == "user" else None)
    db.session.add(terms)
    _apply_terms_content(terms, body, clauses, rate_card)
    db.session.flush()
    audit.record(actor, "terms.created", "terms", terms.id, data={"label": label})
    return terms


def update_terms(
    actor: Actor, terms: Terms, *, body: str, clauses: list[dict], rate_card: dict
) -> Terms:
    """Edit a draft. Published terms never change (409). Audit: terms.updated."""
    if terms.is_published:
        raise Conflict(
            f"Terms {terms.label!r} are published and cannot change; create a new version."
        )
    _apply_terms_content(terms, body, clauses, rate_card)
    db.session.flush()
    audit.record(actor, "terms.updated", "terms", terms.id, data={"label": terms.label})
    return terms


def publish_terms(actor: Actor, terms: Terms) -> Terms:
    """draft → published (immutable from now on). Audit: terms.published."""
    if terms.is_published:
        raise InvalidTransition(f"Terms {terms.label!r} are already published.")
    if not terms.clauses:
        raise ValidationError(
            "Terms need a content policy.", details={"clauses": ["Add at least one clause."]}
        )
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
    """Move a cohort to new terms; members must accept them before access is active again.
    Audit: cohort.terms_changed; each member gets an email."""
    previous = cohort.terms
    cohort.terms = terms
    audit.record(
        actor,
        "cohort.terms_changed",
        "cohort",
        cohort.id,
        data={"from": previous.id if previous else None, "to": terms.id},
    )
    recipients = [(m.user_id, m.user.email) for m in active_members(cohort)]
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
    """Record that the member accepted these terms. Audit: terms.accepted."""
    if membership.user_id != user.id:
        raise NotFound("No such membership.")
    if membership.cohort.terms_id != terms.id:
        raise Conflict("These are not the cohort's current terms; reload and accept those.")
    if membership.accepted_terms_id == terms.id:
        raise Conflict(f"You already accepted {terms.label!r}.")
    db.session.add(
        TermsAcceptance(membership_id=membership.id, user_id=user.id, terms_id=terms.id, ip=ip)
    )
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
            .order_by(TermsAcceptance.accepted_at)
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
    def accept_url(self) -> str | None:
        return accept_url(self.token) if self.token else None


def _clean_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationError("Invalid email.", details={"email": [str(exc)]}) from None


def _expire_stale(actor: Actor, cohort: Cohort, email: str | None = None) -> None:
    query = sa.select(Invitation).where(
        Invitation.cohort_id == cohort.id,
        Invitation.status == InvitationStatus.PENDING,
        Invitation.expires_at <= utcnow(),
    )
    if email is not None:
        query = query.where(Invitation.email == email)
    for invitation in db.session.scalars(query):
        _set_invitation_status(actor, invitation, InvitationStatus.EXPIRED, "expired")


def invite_artist(actor: Actor, cohort: Cohort, raw_email: str) -> tuple[Invitation, str]:
    """Invite one email into an open cohort with a free seat. Audit: invitation.sent.

    The cohort row is locked first, so concurrent invitations cannot overfill it.
    """
    email = _clean_email(raw_email)
    cohort = get_cohort(cohort.id, lock=True)
    if cohort.status != CohortStatus.OPEN:
        raise Conflict(f"Cohort {cohort.name!r} is {cohort.status}; open it to send invitations.")
    _expire_stale(actor, cohort, email)
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
        raise Conflict(f"{email} is a {user.role} account; artists need their own account.")
    if user is not None and db.session.scalar(
        sa.select(Membership.id).where(
            Membership.cohort_id == cohort.id,
            Membership.user_id == user.id,
            Membership.status == MembershipStatus.ACTIVE,
        )
    ):
        raise Conflict(f"{email} is already a member of {cohort.name}.", code="already_member")
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
    """Invite each email independently (a savepoint each); one result per row."""
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
            results.append(InviteResult(raw.strip(), status, detail))
    return results


def get_invitation(invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
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
        artist_id=invitation.user_id,
        data={"email": invitation.email, "cohort_id": invitation.cohort_id, "why": why},
    )


def withdraw_invitation(actor: Actor, invitation: Invitation) -> Invitation:
    """pending → withdrawn. Audit: invitation.withdrawn."""
    if invitation.status != InvitationStatus.PENDING:
        raise InvalidTransition(
            f"The invitation is {invitation.status}; only pending invitations can be withdrawn."
        )
    _set_invitation_status(actor, invitation, InvitationStatus.WITHDRAWN, "withdrawn by staff")
    return invitation


def invitation_for_token(token: str) -> Invitation:
    """The pending invitation for this link: 404 if unknown, 410 if used, expired or withdrawn."""
    invitation = db.session.scalar(
        sa.select(Invitation).where(Invitation.token_hash == hash_invitation_token(token))
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid. Check the link in your email.")
    if invitation.status == InvitationStatus.PENDING and invitation.is_expired(utcnow()):
        raise Gone(
            "This invitation has expired. Ask the program team for a new one.", code="expired"
        )
    if invitation.status != InvitationStatus.PENDING:
        words = {
            InvitationStatus.ACCEPTED: "has already been used",
            InvitationStatus.DECLINED: "was declined",
            InvitationStatus.EXPIRED: "has expired",
            InvitationStatus.WITHDRAWN: "was withdrawn by the program team",
        }
        raise Gone(
            f"This invitation {words[InvitationStatus(invitation.status)]}.",
            code=f"invitation_{invitation.status}",
        )
    if invitation.cohort.status != CohortStatus.OPEN:
        raise Gone(f"{invitation.cohort.name} is no longer taking members.", code="cohort_closed")
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
    invitation = invitation_for_token(token)
    cohort = invitation.cohort
    if not accept_terms:
        raise ValidationError(
            "You must accept the terms.", details={"accept_terms": ["Accept the terms to join."]}
        )
    if cohort.terms is None:
        raise Conflict(f"{cohort.name} has no published terms yet; try again later.")
    existing = accounts.get_user_by_email(invitation.email)
    if user is None:
        if existing is not None:
            if password is None or accounts.authenticate(existing.email, password) is None:
                raise ValidationError(
                    "Sign in to accept.",
                    details={"password": ["You already have an account: enter its password."]},
                )
            user = existing
        else:
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
    elif user.email != invitation.email:
        raise Conflict(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}."
        )
    if active_membership(user) is not None:
        raise Conflict("You are already an active member of a cohort.", code="already_member")
    cohort = get_cohort(cohort.id, lock=True)
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
    accept_terms_version(user, membership, cohort.terms, ip)
    if cohort.auto_grant:
        access.grant_access(Actor.system("auto-grant on acceptance"), membership)
    return membership


def decline_invitation(token: str) -> Invitation:
    """pending → declined (by whoever holds the link). Audit: invitation.declined."""
    invitation = invitation_for_token(token)
    _set_invitation_status(
        Actor.system("invitation link"), invitation, InvitationStatus.DECLINED, "declined"
    )
    return invitation


def expire_invitations(actor: Actor) -> int:
    """Mark every pending invitation past its expiry as expired. Audit: invitation.expired."""
    stale = list(
        db.session.scalars(
            sa.select(Invitation).where(
                Invitation.status == InvitationStatus.PENDING, Invitation.expires_at <= utcnow()
            )
        )
    )
    for invitation in stale:
        _set_invitation_status(actor, invitation, InvitationStatus.EXPIRED, "expired")
    return len(stale)

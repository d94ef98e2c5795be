"""Grants, revocations, pauses and the access decision the generation tool asks for."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program import audit
from access_program.access.models import (
    MAX_ID,
    Grant,
    Pause,
    PauseScope,
    ReasonCode,
    RevocationCategory,
)
from access_program.accounts.models import ApiToken, Role, User
from access_program.accounts.service import (
    BearerToken,
    bearer_columns,
    bearer_from_row,
    bearer_token,
    hash_token,
)
from access_program.audit.service import Actor
from access_program.cohorts.models import Cohort, Membership, MembershipStatus
from access_program.db import Precompiled, UTCDateTime, db, read_first, utcnow
from access_program.errors import Conflict, InvalidTransition, NotFound, ValidationError
from access_program.outbox.service import queue_many


def is_possible_id(value: int | None) -> bool:
    """Ids are INTEGER columns: a larger number from a URL or a body names no row, and handing it
    to the database fails (SQLite overflow, PostgreSQL "integer out of range") with a 500."""
    return value is not None and 0 < value <= MAX_ID


@contextmanager
def _unique_or_conflict(message: str, *, code: str = "conflict") -> Iterator[None]:
    """Write what the block changes in a savepoint: a unique index refusing it (a concurrent
    request got there first) becomes a 409, not a 500. The change must be made inside the block:
    begin_nested() flushes what is already pending before the savepoint starts."""
    try:
        with db.session.begin_nested():
            yield
    except sa.exc.IntegrityError as exc:
        raise Conflict(message, code=code) from exc


# --- grants --------------------------------------------------------------------------------


def get_grant(grant_id: int) -> Grant:
    grant = db.session.get(Grant, grant_id) if is_possible_id(grant_id) else None
    if grant is None:
        raise NotFound(f"No grant {grant_id}.")
    return grant


def grants_for(user: User) -> list[Grant]:
    """Every grant of the artist, revoked and expired ones included, newest first."""
    return list(
        db.session.scalars(
            sa.select(Grant)
            .where(Grant.user_id == user.id)
            .options(so.selectinload(Grant.membership))
            .order_by(Grant.granted_at.desc(), Grant.id.desc())
        )
    )


def grant_access(
    actor: Actor, membership: Membership, *, expires_at: dt.datetime | None = None
) -> Grant:
    """A new grant for an active membership. Audit: grant.created."""
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationError(
            "Expiry must be in the future.", details={"expires_at": ["Pick a future time."]}
        )
    # Read the status under the membership's row lock (PostgreSQL; SQLite has one writer): two
    # concurrent grants would otherwise both see "no current grant", and a cohort closing at the
    # same moment could end the membership under us.
    status = db.session.scalar(
        sa.select(Membership.status).where(Membership.id == membership.id).with_for_update()
    )
    if status != MembershipStatus.ACTIVE:
        raise Conflict("The membership has ended; invite the artist again to grant access.")
    now = utcnow()
    current = [g for g in _unrevoked(membership) if g.is_current(now)]
    if current:
        raise Conflict(
            f"The artist already has active grant {current[0].id}; revoke it first or let it"
            " expire.",
            code="grant_exists",
        )
    grant = Grant(
        membership_id=membership.id,
        user_id=membership.user_id,
        granted_by_id=actor.id if actor.type == "user" else None,
        expires_at=expires_at,
    )
    db.session.add(grant)
    db.session.flush()
    audit.record(
        actor,
        "grant.created",
        "grant",
        grant.id,
        artist_id=membership.user_id,
        data={
            "membership_id": membership.id,
            "scope": grant.scope,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return grant


def _unrevoked(membership: Membership) -> list[Grant]:
    return list(
        db.session.scalars(
            sa.select(Grant).where(Grant.membership_id == membership.id, Grant.revoked_at.is_(None))
        )
    )


def _check_revocation(category: str, reason: str) -> tuple[RevocationCategory, str]:
    errors = {}
    if category not in set(RevocationCategory):
        errors["category"] = [f"Use one of: {', '.join(RevocationCategory)}."]
    if not reason or not reason.strip():
        errors["reason"] = ["Give the reason the artist will read."]
    if errors:
        raise ValidationError("The revocation is incomplete.", details=errors)
    return RevocationCategory(category), reason.strip()


def revoke_grant(actor: Actor, grant: Grant, category: str, reason: str) -> Grant:
    """Revoke one grant with a category and reason. Audit: grant.revoked."""
    category, reason = _check_revocation(category, reason)
    # Re-read under a row lock, so a concurrent revocation is seen (409) instead of overwritten.
    db.session.refresh(grant, with_for_update=True)
    if grant.revoked_at is not None:
        raise InvalidTransition(
            f"Grant {grant.id} was already revoked on {grant.revoked_at:%d %b %Y}."
        )
    _revoke(actor, grant, category, reason)
    return grant


def _revoke(actor: Actor, grant: Grant, category: RevocationCategory, reason: str) -> None:
    grant.revoked_at = utcnow()
    grant.revoked_by_id = actor.id if actor.type == "user" else None
    grant.revoke_category = category
    grant.revoke_reason = reason
    audit.record(
        actor,
        "grant.revoked",
        "grant",
        grant.id,
        artist_id=grant.user_id,
        data={"category": category, "reason": reason},
    )
    queue_many(
        "grant.revoked",
        [(grant.user_id, grant.user.email)],
        "Your access to the tool was revoked",
        f"Your access was revoked ({category.replace('_', ' ')}).\n\nReason: {reason}\n\n"
        "You can still sign in to read your records, requests and payouts.",
    )


def revoke_all(actor: Actor, cohort: Cohort, category: str, reason: str) -> int:
    """Revoke every unrevoked grant in a cohort with one reason. Audit: grant.revoked each."""
    category, reason = _check_revocation(category, reason)
    grants = list(
        db.session.scalars(
            sa.select(Grant)
            .join(Membership)
            .where(Membership.cohort_id == cohort.id, Grant.revoked_at.is_(None))
            .options(so.joinedload(Grant.user))
            .order_by(Grant.id)
            .with_for_update(of=Grant)
        )
    )
    for grant in grants:
        _revoke(actor, grant, category, reason)
    return len(grants)


# --- pauses --------------------------------------------------------------------------------


def get_pause(pause_id: int) -> Pause:
    pause = db.session.get(Pause, pause_id) if is_possible_id(pause_id) else None
    if pause is None:
        raise NotFound(f"No pause {pause_id}.")
    return pause


def list_pauses(open_only: bool = False) -> sa.Select:
    query = sa.select(Pause).order_by(Pause.started_at.desc(), Pause.id.desc())
    if open_only:
        query = query.where(Pause.ended_at.is_(None))
    return query


def _affected_artists(pause: Pause) -> list[tuple[int, str]]:
    query = (
        sa.select(User.id, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.status == MembershipStatus.ACTIVE, User.role == Role.ARTIST)
    )
    if pause.scope == PauseScope.COHORT:
        query = query.where(Membership.cohort_id == pause.cohort_id)
    return [(row.id, row.email) for row in db.session.execute(query)]


def _open_pause(scope_key: str) -> Pause | None:
    return db.session.scalar(
        sa.select(Pause).where(Pause.scope_key == scope_key, Pause.ended_at.is_(None))
    )


def start_pause(
    actor: Actor,
    *,
    scope: str,
    reason: str,
    cohort: Cohort | None = None,
    expected_end_at: dt.datetime | None = None,
) -> Pause:
    """Pause tool access (global or one cohort); every affected artist is emailed.
    Audit: pause.started."""
    errors = {}
    if scope not in set(PauseScope):
        errors["scope"] = ["Use 'global' or 'cohort'."]
    if scope == PauseScope.COHORT and cohort is None:
        errors["cohort_id"] = ["Pick the cohort to pause."]
    if not reason or not reason.strip():
        errors["reason"] = ["Give the reason artists will see."]
    if expected_end_at is not None and expected_end_at <= utcnow():
        errors["expected_end"] = ["The expected end must be in the future."]
    if errors:
        raise ValidationError("The pause is incomplete.", details=errors)
    scope_key = "global" if scope == PauseScope.GLOBAL else f"cohort:{cohort.id}"
    open_pause = _open_pause(scope_key)
    if open_pause is not None:
        raise Conflict(
            f"A pause of this scope is already open (pause {open_pause.id}, since"
            f" {open_pause.started_at:%d %b %Y %H:%M} UTC); end it before starting another.",
            code="pause_open",
        )
    pause = Pause(
        scope=scope,
        cohort=cohort if scope == PauseScope.COHORT else None,
        scope_key=scope_key,
        reason=reason.strip(),
        expected_end_at=expected_end_at,
        started_by_id=actor.id if actor.type == "user" else None,
    )
    # Two requests can both pass the check above; the unique partial index lets one in.
    with _unique_or_conflict(
        "Another pause of this scope was started at the same moment; end it before starting"
        " another.",
        code="pause_open",
    ):
        db.session.add(pause)
    audit.record(
        actor,
        "pause.started",
        "pause",
        pause.id,
        data={
            "scope": scope,
            "cohort_id": pause.cohort_id,
            "reason": pause.reason,
            "expected_end_at": expected_end_at.isoformat() if expected_end_at else None,
        },
    )
    expected = f"{expected_end_at:%d %b %Y, %H:%M} UTC" if expected_end_at else "not announced"
    queue_many(
        "pause.started",
        _affected_artists(pause),
        "Tool access is paused",
        f"Access to the tool is paused ({pause.scope_label}).\n\nReason: {pause.reason}\n"
        f"Expected end: {expected}\n\nYour records, requests, contributions and payouts are not"
        " affected: you can keep using the program's site.",
    )
    return pause


def end_pause(actor: Actor, pause: Pause, note: str | None = None) -> Pause:
    """Close an open pause; every affected artist is emailed. Audit: pause.ended."""
    db.session.refresh(pause, with_for_update=True)
    if pause.ended_at is not None:
        raise InvalidTransition(f"Pause {pause.id} already ended on {pause.ended_at:%d %b %Y}.")
    pause.ended_at = utcnow()
    pause.ended_by_id = actor.id if actor.type == "user" else None
    pause.end_note = (note or "").strip() or None
    audit.record(
        actor,
        "pause.ended",
        "pause",
        pause.id,
        data={
            "note": pause.end_note,
            "duration_seconds": int(pause.duration(utcnow()).total_seconds()),
        },
    )
    queue_many(
        "pause.ended",
        _affected_artists(pause),
        "Tool access has resumed",
        f"The pause ({pause.scope_label}) has ended."
        + (f"\n\n{pause.end_note}" if pause.end_note else ""),
    )
    return pause


def count_active_artists() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Membership.id)).where(Membership.status == MembershipStatus.ACTIVE)
    )


def open_pauses_for(user: User | None) -> list[Pause]:
    """Open pauses that affect this viewer: global ones, and their cohort's (staff see all)."""
    query = sa.select(Pause).where(Pause.ended_at.is_(None)).order_by(Pause.started_at)
    if user is not None and user.is_artist:
        cohort_ids = sa.select(Membership.cohort_id).where(
            Membership.user_id == user.id, Membership.status == MembershipStatus.ACTIVE
        )
        query = query.where(
            sa.or_(Pause.scope == PauseScope.GLOBAL, Pause.cohort_id.in_(cohort_ids))
        )
    elif user is None:
        query = query.where(Pause.scope == PauseScope.GLOBAL)
    return list(db.session.scalars(query))


# --- the access decision -------------------------------------------------------------------


@dataclass
class Decision:
    allowed: bool
    checked_at: dt.datetime
    reasons: list[dict[str, str]] = field(default_factory=list)
    grant_id: int | None = None
    expires_at: dt.datetime | None = None
    artist_id: int | None = None

    def deny(self, code: ReasonCode, message: str) -> None:
        self.allowed = False
        self.reasons.append({"code": code, "message": message})

    def as_json(self) -> dict:
        """The API shape (as DecisionSchema documents it), built by hand on the hot path."""
        return {
            "allowed": self.allowed,
            "reasons": [{"code": str(r["code"]), "message": r["message"]} for r in self.reasons],
            "grant_id": self.grant_id,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "checked_at": self.checked_at.isoformat(),
        }


_ACTIVE = sa.literal_column(f"'{MembershipStatus.ACTIVE.value}'")


@functools.cache
def _decision_statement(by: str) -> sa.Select:
    """Everything the decision needs in one statement: the artist, their active membership and
    cohort, the current grant, the latest grant (to tell expired from revoked) and open pauses.
    Each subquery is an indexed lookup, so its cost does not grow with the history.

    Built once per process (it is on the tool's hot path): the time and the artist are bound
    parameters ``now`` and ``key``; ``by`` is "id" or "external_id"."""
    now = sa.bindparam("now", type_=UTCDateTime())

    def current_grant(column):
        # The grant in force: unrevoked and unexpired, the longest-lived first.
        return (
            sa.select(column)
            .where(
                Grant.membership_id == Membership.id,
                Grant.revoked_at.is_(None),
                sa.or_(Grant.expires_at.is_(None), Grant.expires_at > now),
            )
            .order_by(Grant.expires_at.is_(None).desc(), Grant.expires_at.desc(), Grant.id.desc())
            .limit(1)
            .correlate(Membership)
            .scalar_subquery()
        )

    def latest_grant(column):
        # The newest grant, to tell an expired grant from a revoked one.
        return (
            sa.select(column)
            .where(Grant.membership_id == Membership.id)
            .order_by(Grant.id.desc())
            .limit(1)
            .correlate(Membership)
            .scalar_subquery()
        )

    global_pause = (
        sa.select(Pause.reason)
        .where(Pause.scope_key == "global", Pause.ended_at.is_(None))
        .limit(1)
        .scalar_subquery()
    )
    cohort_pause = (
        sa.select(Pause.reason)
        .where(Pause.cohort_id == Membership.cohort_id, Pause.ended_at.is_(None))
        .limit(1)
        .correlate(Membership)
        .scalar_subquery()
    )
    # Scalar subqueries rather than joins on a subquery's result: PostgreSQL planned
    # "JOIN grants ON grants.id = (subquery)" as a hash join over every grant.
    return (
        sa.select(
            User.id.label("user_id"),
            User.active,
            Membership.id.label("membership_id"),
            Membership.accepted_terms_id,
            Cohort.terms_id,
            Cohort.name.label("cohort_name"),
            current_grant(Grant.id).label("grant_id"),
            current_grant(Grant.expires_at).label("expires_at"),
            latest_grant(Grant.expires_at).label("latest_expires_at"),
            latest_grant(Grant.revoked_at).label("latest_revoked_at"),
            global_pause.label("global_pause"),
            cohort_pause.label("cohort_pause"),
        )
        .select_from(User)
        .outerjoin(
            Membership,
            # The status is written into the SQL, not bound: only a literal 'active' lets the
            # planners use the partial index uq_memberships_one_active (SQLite otherwise scans
            # the memberships, about 10x slower; PostgreSQL's generic plan would too).
            sa.and_(Membership.user_id == User.id, Membership.status == _ACTIVE),
        )
        .outerjoin(Cohort, Cohort.id == Membership.cohort_id)
        .where(User.role == sa.literal_column(f"'{Role.ARTIST.value}'"))
        .where(getattr(User, by) == sa.bindparam("key"))
    )


def _lookup(artist_id: int | None, external_id: str | None, decision: Decision):
    """(by, key, message if unknown) for the decision statement, or None when the input names
    no artist at all (the decision is then already denied)."""
    if artist_id is not None:
        if not is_possible_id(artist_id):
            decision.deny(ReasonCode.UNKNOWN_ARTIST, f"No artist with id {artist_id}.")
            return None
        return "id", artist_id, f"No artist with id {artist_id}."
    if external_id:
        return "external_id", external_id, f"No artist with external id {external_id!r}."
    # Never fall through to "external_id IS NULL", which would match some artist.
    decision.deny(ReasonCode.UNKNOWN_ARTIST, "No artist id or external id given.")
    return None


def decide_access(*, artist_id: int | None = None, external_id: str | None = None) -> Decision:
    """May this artist use the tool now? One SQL statement; every reason that applies."""
    now = utcnow()
    decision = Decision(allowed=True, checked_at=now)
    lookup = _lookup(artist_id, external_id, decision)
    if lookup is None:
        return decision
    by, key, unknown = lookup
    # Core execution on the session's connection: no ORM entities are loaded here.
    row = db.session.connection().execute(_decision_statement(by), {"now": now, "key": key}).first()
    return _decide(decision, row, unknown)


@functools.cache
def _checked_decision_statement(by: str) -> Precompiled:
    """The token lookup and the decision in one statement: the token's row (with its user's
    ``active``), joined with the decision's one row (or NULLs for an unknown artist)."""
    token_user = so.aliased(User, name="token_user")
    decision = _decision_statement(by).subquery("decision")
    return Precompiled(
        sa.select(*bearer_columns(), token_user.active.label("token_user_active"), decision)
        .select_from(ApiToken)
        .outerjoin(token_user, token_user.id == ApiToken.user_id)
        .outerjoin(decision, sa.true())
        .where(ApiToken.token_hash == sa.bindparam("token_hash"))
    )


def checked_decision(
    bearer: str, *, artist_id: int | None = None, external_id: str | None = None
) -> tuple[BearerToken | None, Decision]:
    """The generation tool's hot path: authenticate its token and decide, in one statement.

    Returns the usable token (None: unknown, expired or revoked; the caller answers 401, and
    checks the scope before showing the decision) and the decision. Runs on its own
    connection, outside the request's transaction (``db.read_connection``): a single SELECT
    reads one consistent snapshot, so a pause committed before the request began is seen."""
    now = utcnow()
    decision = Decision(allowed=True, checked_at=now)
    lookup = _lookup(artist_id, external_id, decision)
    if lookup is None:
        return bearer_token(bearer), decision
    by, key, unknown = lookup
    row = read_first(
        _checked_decision_statement(by), now=now, key=key, token_hash=hash_token(bearer)
    )
    token = bearer_from_row(row, now)
    if token is None:
        return None, decision
    return token, _decide(decision, row if row.user_id is not None else None, unknown)


def _decide(decision: Decision, row, unknown: str) -> Decision:
    """Fill the decision from the decision statement's row (None: no such artist)."""
    if row is None:
        decision.deny(ReasonCode.UNKNOWN_ARTIST, unknown)
        return decision
    decision.artist_id = row.user_id
    if not row.active:
        decision.deny(ReasonCode.ACCOUNT_DISABLED, "The artist's account is disabled.")
    if row.membership_id is None:
        decision.deny(
            ReasonCode.NO_ACTIVE_MEMBERSHIP, "The artist is not an active member of a cohort."
        )
    else:
        if row.terms_id is not None and row.accepted_terms_id != row.terms_id:
            decision.deny(
                ReasonCode.TERMS_NOT_ACCEPTED,
                f"The artist has not accepted the current terms of {row.cohort_name}.",
            )
        if row.grant_id is not None:
            decision.grant_id = row.grant_id
            decision.expires_at = row.expires_at
        elif row.latest_revoked_at is None and row.latest_expires_at is not None:
            decision.deny(
                ReasonCode.GRANT_EXPIRED,
                f"The artist's access grant expired on {row.latest_expires_at:%d %b %Y, %H:%M}"
                " UTC.",
            )
        elif row.latest_revoked_at is not None:
            decision.deny(
                ReasonCode.NO_ACTIVE_GRANT,
                f"The artist's access grant was revoked on {row.latest_revoked_at:%d %b %Y}.",
            )
        else:
            decision.deny(ReasonCode.NO_ACTIVE_GRANT, "The artist has no access grant.")
        if row.cohort_pause is not None:
            decision.deny(
                ReasonCode.COHORT_PAUSED, f"{row.cohort_name} is paused: {row.cohort_pause}"
            )
    if row.global_pause is not None:
        decision.deny(ReasonCode.PROGRAM_PAUSED, f"The program is paused: {row.global_pause}")
    return decision


def artist_status(user: User) -> dict:
    """What an artist sees about themselves: the decision, their cohort, open pauses."""
    if not user.is_artist:
        return {"access": None, "cohort": None, "pauses": [], "needs_terms_acceptance": False}
    decision = decide_access(artist_id=user.id)
    membership = db.session.scalar(
        sa.select(Membership).where(
            Membership.user_id == user.id, Membership.status == MembershipStatus.ACTIVE
        )
    )
    cohort = membership.cohort if membership else None
    return {
        "access": {
            "allowed": decision.allowed,
            "reasons": decision.reasons,
            "grant_id": decision.grant_id,
            "expires_at": decision.expires_at.isoformat() if decision.expires_at else None,
        },
        "cohort": {"id": cohort.id, "name": cohort.name, "terms_id": cohort.terms_id}
        if cohort
        else None,
        "pauses": [
            {
                "id": p.id,
                "scope": p.scope,
                "reason": p.reason,
                "started_at": p.started_at.isoformat(),
                "expected_end_at": p.expected_end_at.isoformat() if p.expected_end_at else None,
            }
            for p in open_pauses_for(user)
        ],
        "needs_terms_acceptance": bool(
            membership and cohort.terms_id and membership.accepted_terms_id != cohort.terms_id
        ),
    }


# --- artists -------------------------------------------------------------------------------


def get_artist(artist_id: int) -> User:
    user = db.session.get(User, artist_id) if is_possible_id(artist_id) else None
    if user is None or user.role != Role.ARTIST:
        raise NotFound(f"No artist {artist_id}.")
    return user


def list_artists(cohort_id: int | None = None, q: str | None = None) -> sa.Select:
    query = sa.select(User).where(User.role == Role.ARTIST).order_by(User.name, User.id)
    if cohort_id is not None:
        query = query.where(
            User.id.in_(sa.select(Membership.user_id).where(Membership.cohort_id == cohort_id))
        )
    if q:
        like = f"%{q.lower()}%"
        query = query.where(sa.or_(sa.func.lower(User.name).like(like), User.email.like(like)))
    return query


def set_external_id(actor: Actor, artist: User, external_id: str | None) -> User:
    """Link the generation tool's user id. Audit: artist.external_id_set."""
    external_id = (external_id or "").strip() or None
    if external_id and db.session.scalar(
        sa.select(User.id).where(User.external_id == external_id, User.id != artist.id)
    ):
        raise Conflict(f"External id {external_id!r} already belongs to another artist.")
    previous = artist.external_id
    with _unique_or_conflict(f"External id {external_id!r} already belongs to another artist."):
        artist.external_id = external_id
    audit.record(
        actor,
        "artist.external_id_set",
        "user",
        artist.id,
        artist_id=artist.id,
        data={"from": previous, "to": external_id},
    )
    return artist

"""Users, passwords, sign-in bookkeeping and API tokens."""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from access_program import audit
from access_program.accounts.models import ApiToken, Role, Scope, User, new_session_token
from access_program.audit.service import Actor
from access_program.db import db, utcnow
from access_program.errors import Conflict, NotFound, ValidationError

MIN_PASSWORD_LENGTH = 10
#: Tokens issued by POST /api/v1/auth/token live this long.
SESSION_TOKEN_TTL = dt.timedelta(days=30)
#: last_used_at is written at most this often, to keep the hot path read-only.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


#: Deliberately loose (the API's schema is stricter); it keeps obvious junk out of the CLI.
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 254


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> None:
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(email):
        raise ValidationError(
            "Invalid email address.", details={"email": ["Enter a valid email address."]}
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "Password too short.",
            details={"password": [f"Use at least {MIN_PASSWORD_LENGTH} characters."]},
        )


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def create_user(
    actor: Actor, *, email: str, name: str, role: Role | str, password: str | None
) -> User:
    """Create an account (staff and admins here; artists via invitations). Audit: user.created."""
    email = normalize_email(email)
    role = Role(role)
    check_email(email)
    if not name.strip():
        raise ValidationError("A name is required.", details={"name": ["Give a display name."]})
    if get_user_by_email(email) is not None:
        raise Conflict(f"An account for {email} already exists.", code="email_taken")
    user = User(email=email, name=name.strip(), role=role)
    if password is not None:
        check_password_rules(password)
        user.password_hash = _hash_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor,
        "user.created",
        "user",
        user.id,
        artist_id=_artist_id(user),
        data={"email": email, "role": role},
    )
    return user


def set_password(user: User, password: str) -> None:
    check_password_rules(password)
    user.password_hash = _hash_password(password)


#: Hashes compared against when the email is unknown, so both failures take the same time;
#: one per hashing method, made with the method the real hashes use.
_DUMMY_HASHES: dict[str, str] = {}


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASHES[method]


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None; never says which part was wrong."""
    user = get_user_by_email(email)
    if user is None or user.password_hash is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def record_sign_in(user: User) -> None:
    """Audit: user.signed_in."""
    user.last_login_at = utcnow()
    audit.record(user.actor, "user.signed_in", "user", user.id, artist_id=_artist_id(user))


def sign_out(user: User) -> None:
    """Rotate the session token, which ends every session of this user. Audit: user.signed_out."""
    user.session_token = new_session_token()
    audit.record(user.actor, "user.signed_out", "user", user.id, artist_id=_artist_id(user))


def set_user_active(actor: Actor, user: User, active: bool) -> User:
    """Enable or disable an account; disabling ends its sessions. Audit: user.disabled/enabled."""
    if user.active == active:
        return user
    user.active = active
    user.session_token = new_session_token()
    action = "user.enabled" if active else "user.disabled"
    audit.record(actor, action, "user", user.id, artist_id=_artist_id(user))
    return user


def load_session_user(session_id: str) -> User | None:
    """Flask-Login loader: ``<id>:<session token>``; a rotated token ends the session."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdecimal() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active:
        return None
    if not secrets.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user


def _artist_id(user: User) -> int | None:
    return user.id if user.role == Role.ARTIST else None


def create_token(
    actor: Actor,
    *,
    user: User | None = None,
    service_name: str | None = None,
    scopes: list[str] | None = None,
    name: str | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """Issue a token; the plain value is returned once and only its hash is kept.

    Audit: token.created.
    """
    if (user is None) == (service_name is None):
        raise ValidationError("A token belongs to a user or to a service, not both.")
    for field, value in (("service_name", service_name), ("name", name)):
        if value is not None and not 0 < len(value.strip()) <= 120:
            raise ValidationError(
                f"Invalid {field}.", details={field: ["Use 1 to 120 characters."]}
            )
    scopes = scopes or ([Scope.API] if user else [Scope.ACCESS_CHECK])
    unknown = [s for s in scopes if s not in set(Scope)]
    if unknown:
        raise ValidationError(
            "Unknown scope.", details={"scope": [f"Unknown scope: {', '.join(unknown)}"]}
        )
    plain = "eap_" + secrets.token_urlsafe(32)
    token = ApiToken(
        name=(name or service_name or user.email)[:120],
        token_hash=hash_token(plain),
        prefix=plain[:10],
        user=user,
        service_name=service_name,
        scopes=" ".join(sorted(set(scopes))),
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        actor,
        "token.created",
        "api_token",
        token.id,
        artist_id=_artist_id(user) if user else None,
        data={"name": token.name, "scopes": token.scope_list, "service": service_name},
    )
    return token, plain


def issue_session_token(user: User) -> tuple[ApiToken, str]:
    """POST /auth/token: an API token for the signed-in user, valid 30 days."""
    return create_token(user.actor, user=user, expires_at=utcnow() + SESSION_TOKEN_TTL)


def resolve_token(plain: str) -> ApiToken | None:
    """The usable token for this bearer value, or None (unknown, expired, revoked, disabled).

    One SELECT for a service token (a statement built once; a user token loads its user too).
    Last use is written at most once a minute, after the request's own commit
    (``record_token_use``), so a read-only request stays read-only.
    """
    token = db.session.scalar(_token_by_hash(), {"token_hash": hash_token(plain)})
    now = utcnow()
    if token is None or not token.is_usable(now):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        _pending_token_use.set((token.id, now))
    return token


@dataclass(frozen=True)
class BearerToken:
    """What an API request needs of its token, read with one Core SELECT (the hot path)."""

    id: int
    user_id: int | None
    service_name: str | None
    scopes: tuple[str, ...]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def bearer_columns() -> list[sa.ColumnElement]:
    """What the API needs of a token, labelled so that ``bearer_from_row`` reads them from any
    statement that selects them (the access check joins them into its single statement)."""
    return [
        ApiToken.id.label("token_id"),
        ApiToken.user_id.label("token_user_id"),
        ApiToken.service_name.label("token_service_name"),
        ApiToken.scopes.label("token_scopes"),
        ApiToken.expires_at.label("token_expires_at"),
        ApiToken.revoked_at.label("token_revoked_at"),
        ApiToken.last_used_at.label("token_last_used_at"),
    ]


@functools.cache
def _bearer_statement() -> sa.Select:
    token_user = so.aliased(User, name="token_user")
    return (
        sa.select(*bearer_columns(), token_user.active.label("token_user_active"))
        .select_from(ApiToken)
        .outerjoin(token_user, token_user.id == ApiToken.user_id)
        .where(ApiToken.token_hash == sa.bindparam("token_hash"))
    )


def bearer_from_row(row, now: dt.datetime) -> BearerToken | None:
    """The same rules as ``resolve_token`` (unknown, revoked, expired, disabled user → None)
    applied to a row selected with ``bearer_columns()`` and ``token_user_active``."""
    if row is None or row.token_revoked_at is not None:
        return None
    if row.token_expires_at is not None and row.token_expires_at <= now:
        return None
    if row.token_user_id is not None and not row.token_user_active:
        return None
    if row.token_last_used_at is None or now - row.token_last_used_at > LAST_USED_RESOLUTION:
        _pending_token_use.set((row.token_id, now))
    return BearerToken(
        row.token_id, row.token_user_id, row.token_service_name, tuple(row.token_scopes.split())
    )


def bearer_token(plain: str) -> BearerToken | None:
    """The usable token for an API request's bearer value, or None, without loading ORM
    objects: one statement."""
    row = (
        db.session.connection()
        .execute(_bearer_statement(), {"token_hash": hash_token(plain)})
        .first()
    )
    return bearer_from_row(row, utcnow())


@functools.cache
def _token_by_hash() -> sa.Select:
    # The user is loaded only when needed: the generation tool's service token has none.
    return (
        sa.select(ApiToken)
        .where(ApiToken.token_hash == sa.bindparam("token_hash"))
        .options(so.lazyload(ApiToken.user))
    )


#: (token id, time) of a use still to be written by record_token_use().
_pending_token_use: contextvars.ContextVar[tuple[int, dt.datetime] | None] = contextvars.ContextVar(
    "pending_token_use", default=None
)


def discard_token_use() -> None:
    """A refused request records no use of its token (it changes nothing, that included)."""
    _pending_token_use.set(None)


def record_token_use() -> None:
    """Write a token's last use in its own short transaction after the request's commit.

    Best effort: it is bookkeeping, so a busy database skips it rather than failing the call.
    """
    pending = _pending_token_use.get()
    if pending is None:
        return
    _pending_token_use.set(None)
    token_id, when = pending
    try:
        db.session.execute(
            sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=when)
        )
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()


def revoke_token(actor: Actor, token: ApiToken) -> ApiToken:
    """Audit: token.revoked."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(actor, "token.revoked", "api_token", token.id, data={"name": token.name})
    return token


def list_tokens() -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())))

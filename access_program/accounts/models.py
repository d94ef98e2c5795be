"""Users (artists, staff, admins) and API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy import orm as so

from access_program.audit.service import Actor
from access_program.db import UTCDateTime, db, utcnow


class Role(StrEnum):
    ARTIST = "artist"
    STAFF = "staff"
    ADMIN = "admin"


class Scope(StrEnum):
    #: Everything the token's user may do through the API (their role's permissions).
    API = "api"
    #: The generation tool: only the access decision.
    ACCESS_CHECK = "access:check"


def new_session_token() -> str:
    return secrets.token_hex(16)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint("role IN ('artist','staff','admin')", name="role"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    #: Stored lower-cased, so uniqueness is case-insensitive.
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    role: so.Mapped[str] = so.mapped_column(sa.String(16), default=Role.ARTIST)
    active: so.Mapped[bool] = so.mapped_column(default=True)
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    #: The generation tool's own id for this artist (``?external_id=`` on the access check).
    external_id: so.Mapped[str | None] = so.mapped_column(sa.String(128), unique=True)
    last_login_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    #: Part of the Flask-Login session id: rotating it ends every session of this user.
    session_token: so.Mapped[str] = so.mapped_column(sa.String(32), default=new_session_token)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_artist(self) -> bool:
        return self.role == Role.ARTIST

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def actor(self) -> Actor:
        return Actor("user", self.id, self.email)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.CheckConstraint("(user_id IS NOT NULL) OR (service_name IS NOT NULL)", name="owner"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    #: SHA-256 of the token; the token itself is shown once and never stored.
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    #: First characters, so a person can tell their tokens apart.
    prefix: so.Mapped[str] = so.mapped_column(sa.String(12))
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    #: Set for service principals (the generation tool, scripts) instead of a user.
    service_name: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    #: Space-separated scopes.
    scopes: so.Mapped[str] = so.mapped_column(sa.String(255))
    created_at: so.Mapped[dt.datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)
    last_used_at: so.Mapped[dt.datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User | None] = so.relationship(lazy="joined")

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_list

    @property
    def actor(self) -> Actor:
        if self.user is not None:
            return self.user.actor
        return Actor("service", self.id, f"service:{self.service_name}")

    def is_usable(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None:
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.user is None or self.user.active

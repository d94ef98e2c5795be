"""Who may do what: pure predicates, plus the decorators that check them at the edge.

The API authenticates with bearer tokens only (it is exempt from CSRF, so it must not accept the
session cookie); pages use the Flask-Login session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from flask_login import current_user

from access_program.accounts.models import Role, Scope, User
from access_program.accounts.service import BearerToken, bearer_token
from access_program.audit.service import Actor
from access_program.db import db
from access_program.errors import Forbidden, NotFound, Unauthorized


def is_staff(user: User | None) -> bool:
    return user is not None and user.role in (Role.STAFF, Role.ADMIN)


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == Role.ADMIN


def can_view_artist(user: User | None, artist_id: int) -> bool:
    """Staff read every artist's records; an artist only their own."""
    return is_staff(user) or (user is not None and user.id == artist_id)


@dataclass(frozen=True)
class Principal:
    token: BearerToken

    @property
    def user(self) -> User | None:
        """The token's user, loaded on first use (service tokens have none)."""
        if self.token.user_id is None:
            return None
        return db.session.get(User, self.token.user_id)

    @property
    def actor(self) -> Actor:
        user = self.user
        if user is not None:
            return user.actor
        return Actor("service", self.token.id, f"service:{self.token.service_name}")


#: Kept on the request (not on ``g``, which outlives a request when an app context is reused).
PRINCIPAL_KEY = "access_program.principal"


def bearer_principal() -> Principal:
    """The caller of an API request, from ``Authorization: Bearer``; 401 otherwise."""
    cached = request.environ.get(PRINCIPAL_KEY)
    if cached is not None:
        return cached
    return authenticated(bearer_token(bearer_value()))


def bearer_value() -> str:
    """The token sent as ``Authorization: Bearer <token>``; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Send an API token as 'Authorization: Bearer <token>'.")
    return value.strip()


def authenticated(token: BearerToken | None, scope: Scope | None = None) -> Principal:
    """The request's principal for a looked-up token: 401 if it is unusable, 403 if it lacks
    ``scope``."""
    if token is None:
        raise Unauthorized("The token is unknown, expired or revoked.", code="invalid_token")
    if scope is not None:
        require_scope(token, scope)
    principal = request.environ[PRINCIPAL_KEY] = Principal(token)
    return principal


def require_scope(token: BearerToken, scope: Scope) -> None:
    """403 unless the token holds ``scope``."""
    if not token.has_scope(scope):
        raise Forbidden(f"This token lacks the {scope!r} scope.", code="missing_scope")


ROLE_RANK = {Role.ARTIST: 0, Role.STAFF: 1, Role.ADMIN: 2}


def api_auth(role: Role | None = None, *, scope: Scope = Scope.API) -> Callable:
    """Require a bearer token with ``scope`` and, for user tokens, at least ``role``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = bearer_principal()
            require_scope(principal.token, scope)
            if role is not None:
                user = principal.user
                if user is None or ROLE_RANK[Role(user.role)] < ROLE_RANK[role]:
                    raise Forbidden(f"Only {role} accounts may do this.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def api_user() -> User:
    """The user behind the current API token (service tokens have none: 403)."""
    user = bearer_principal().user
    if user is None:
        raise Forbidden("This endpoint needs a user's token, not a service token.")
    return user


def require_artist_access(user: User, artist_id: int) -> None:
    """404 (not 403) when an artist asks for another artist: existence does not leak."""
    if not can_view_artist(user, artist_id):
        raise NotFound(f"No artist {artist_id}.")


def page_user() -> User:
    """The signed-in user of a page request (routes use login_required first)."""
    return current_user._get_current_object()


def role_required(role: Role) -> Callable:
    """Pages: require a signed-in user of at least this role (403 otherwise)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if ROLE_RANK[Role(current_user.role)] < ROLE_RANK[role]:
                raise Forbidden(f"This page is for {role} accounts.")
            return view(*args, **kwargs)

        return wrapper

    return decorator

"""Accounts API: tokens, users, the caller's own status."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.access.service import artist_status
from access_program.accounts import service
from access_program.accounts.models import Role
from access_program.accounts.permissions import api_auth, api_user, bearer_principal
from access_program.accounts.schemas import (
    MeSchema,
    TokenIssuedSchema,
    TokenRequestSchema,
    UserCreateSchema,
    UserSchema,
)
from access_program.errors import Unauthorized
from access_program.extensions import limiter

blp = Blueprint("accounts_api", __name__, description="Sign-in tokens and users")


def _login_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


@blp.route("/auth/token")
class AuthToken(MethodView):
    decorators = [
        limiter.limit(_login_limit, deduct_when=lambda response: response.status_code == 401)
    ]

    @blp.arguments(TokenRequestSchema)
    @blp.response(201, TokenIssuedSchema)
    @blp.doc(security=[])
    def post(self, data):
        """Exchange email and password for an API token (30 days)."""
        user = service.authenticate(data["email"], data["password"])
        if user is None:
            raise Unauthorized("Email or password is wrong.", code="bad_credentials")
        token, plain = service.issue_session_token(user)
        return {"token": plain, "expires_at": token.expires_at}


@blp.route("/users")
class Users(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    def post(self, data):
        """Create a staff or admin account (admin only)."""
        return service.create_user(bearer_principal().actor, **data)


@blp.route("/me")
class Me(MethodView):
    @api_auth()
    @blp.response(200, MeSchema)
    def get(self):
        """The caller's own account, and for artists their access status and pauses."""
        user = api_user()
        # Raw attributes (not UserSchema().dump): MeSchema serializes them once.
        account = {name: getattr(user, name) for name in UserSchema().fields}
        return {**account, **artist_status(user)}

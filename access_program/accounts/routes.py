"""Sign-in, sign-out, and the admin pages for users and API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from access_program.accounts import service
from access_program.accounts.forms import ConfirmForm, LoginForm, TokenForm, UserForm
from access_program.accounts.models import ApiToken, Role, User
from access_program.accounts.permissions import page_user, role_required
from access_program.db import db, utcnow
from access_program.errors import DomainError, NotFound
from access_program.extensions import limiter

bp = Blueprint("accounts", __name__)


def _login_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths; anything else is ignored."""
    if not target:
        return None
    # Browsers read "/\\host" as "//host": a backslash anywhere is refused too.
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: User) -> str:
    if user.is_admin:
        return url_for("cohorts.cohorts")
    if user.is_staff:
        return url_for("access.artists")
    return url_for("access.dashboard")


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("accounts.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _login_limit,
    methods=["POST"],
    deduct_when=lambda r: request.environ.get("access_program.login_failed", False),
)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data)
        if user is None:
            request.environ["access_program.login_failed"] = True
            form.password.errors.append("Email or password is wrong.")
            return render_template("accounts/login.html", form=form), 200
        service.record_sign_in(user)
        login_user(user)
        flash(f"Signed in as {user.email}.", "success")
        return redirect(safe_next(request.args.get("next")) or home_for(user))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    service.sign_out(page_user())
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


def _token_state(token: ApiToken, now) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def _token_owner(token: ApiToken) -> str:
    if token.service_name:
        return f"Service: {token.service_name}"
    return token.user.email if token.user else "—"


def _users_page(form: UserForm, token_form: TokenForm):
    me = page_user()
    now = utcnow()
    all_users = db.session.scalars(
        sa.select(User).where(User.role != Role.ARTIST).order_by(User.role, User.email)
    ).all()
    users = [{"user": u, "can_toggle": u.id != me.id} for u in all_users]
    tokens = [
        {
            "token": t,
            "state": _token_state(t, now),
            "owner": _token_owner(t),
        }
        for t in service.list_tokens()
    ]
    return render_template(
        "accounts/users.html",
        form=form,
        users=users,
        tokens=tokens,
        token_form=token_form,
        confirm=ConfirmForm(),
    )


@bp.route("/admin/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = service.create_user(
                page_user().actor,
                email=form.email.data,
                name=form.name.data,
                role=form.role.data,
                password=form.password.data,
            )
        except DomainError as exc:
            field = form.email if exc.code == "email_taken" else form.password
            field.errors = [*field.errors, exc.details.get("password", [exc.message])[0]]
            return _users_page(form, TokenForm(prefix="token", formdata=None)), exc.status
        flash(f"Account created for {user.email} ({user.role}).", "success")
        return redirect(url_for("accounts.users"))
    status = 422 if form.is_submitted() else 200
    return _users_page(form, TokenForm(prefix="token", formdata=None)), status


@bp.post("/admin/users/<int:user_id>/active")
@role_required(Role.ADMIN)
def set_active(user_id: int):
    user = service.get_user(user_id)
    if user.id == page_user().id:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("accounts.users"))
    service.set_user_active(page_user().actor, user, not user.active)
    flash(f"{user.email} is now {'enabled' if user.active else 'disabled'}.", "success")
    return redirect(url_for("accounts.users"))


@bp.post("/admin/tokens")
@role_required(Role.ADMIN)
def create_token():
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        return _users_page(UserForm(formdata=None), form), 422
    name = (form.service_name.data or "").strip()
    actor_user = page_user()
    token, plain = service.create_token(
        actor_user.actor,
        user=None if name else actor_user,
        service_name=name or None,
        scopes=form.scopes.data,
    )
    flash("Token created. Copy it now: it is shown only once.", "success")
    response = make_response(
        render_template(
            "accounts/token_created.html", token=token, plain=plain, owner=_token_owner(token)
        )
    )
    # The plain token is on this page only: keep it out of every cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/admin/tokens/<int:token_id>/revoke")
@role_required(Role.ADMIN)
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"No token {token_id}.")
    service.revoke_token(page_user().actor, token)
    flash(f"Token {token.prefix}… revoked.", "success")
    return redirect(url_for("accounts.users"))

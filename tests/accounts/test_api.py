"""Accounts over HTTP: sign-in tokens, throttling, users, /me, and ending sessions (SPEC §3.1).

Factories flush into the test's savepoint, which a refused request rolls back together with its
own work; tests that send refused requests commit their preconditions first (the outer
transaction still discards everything at the end).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.accounts import service
from access_program.accounts.models import ApiToken, User
from access_program.db import utcnow
from access_program.extensions import limiter
from tests.factories import PASSWORD, ApiTokenFactory, GrantFactory, UserFactory
from tests.helpers import audit_actions_since, audit_head_seq


@pytest.fixture(autouse=True)
def fresh_limiter():
    """The limiter's memory storage is shared by every test: start and end with it empty."""
    limiter.reset()
    yield
    limiter.reset()


def _token_row(db, plain: str) -> ApiToken:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == service.hash_token(plain))
    )


# --- POST /api/v1/auth/token ---------------------------------------------------------------


def test_sign_in_returns_a_token_that_works(db, client, api_client):
    user = UserFactory(staff=True, email="staff@example.org")

    response = client.post(
        "/api/v1/auth/token", json={"email": "Staff@Example.org", "password": PASSWORD}
    )

    assert response.status_code == 201
    assert set(response.json) == {"token", "expires_at"}
    expires_at = dt.datetime.fromisoformat(response.json["expires_at"])
    assert dt.timedelta(days=29) < expires_at - utcnow() <= dt.timedelta(days=30)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert me.status_code == 200
    assert me.json["id"] == user.id


def test_the_issued_token_is_stored_hashed(db, client):
    UserFactory(email="staff@example.org")

    plain = client.post(
        "/api/v1/auth/token", json={"email": "staff@example.org", "password": PASSWORD}
    ).json["token"]

    rows = db.session.execute(sa.select(ApiToken.__table__)).all()
    assert rows
    assert all(plain not in str(value) for row in rows for value in row)
    assert _token_row(db, plain) is not None


def test_wrong_password_and_unknown_email_get_the_same_answer(db, client):
    UserFactory(email="artist@example.org")
    db.session.commit()

    wrong_password = client.post(
        "/api/v1/auth/token", json={"email": "artist@example.org", "password": "not it at all"}
    )
    unknown_email = client.post(
        "/api/v1/auth/token", json={"email": "nobody@example.org", "password": PASSWORD}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json == unknown_email.json
    assert wrong_password.json["error"]["message"] == "Email or password is wrong."


def test_a_disabled_account_cannot_get_a_token(db, client):
    UserFactory(email="gone@example.org", disabled=True)
    db.session.commit()
    response = client.post(
        "/api/v1/auth/token", json={"email": "gone@example.org", "password": PASSWORD}
    )
    assert response.status_code == 401


def test_five_failures_then_429_even_with_the_right_password(db, client):
    UserFactory(email="artist@example.org")
    db.session.commit()
    wrong = {"email": "artist@example.org", "password": "not the password"}

    statuses = [client.post("/api/v1/auth/token", json=wrong).status_code for _ in range(5)]
    blocked = client.post(
        "/api/v1/auth/token", json={"email": "artist@example.org", "password": PASSWORD}
    )

    assert statuses == [401] * 5
    assert blocked.status_code == 429
    assert blocked.json["error"]["code"] == "too_many_requests"
    assert "Wait" in blocked.json["error"]["message"]


def test_successful_sign_ins_are_not_throttled(db, client):
    UserFactory(email="artist@example.org")
    good = {"email": "artist@example.org", "password": PASSWORD}
    statuses = [client.post("/api/v1/auth/token", json=good).status_code for _ in range(7)]
    assert statuses == [201] * 7


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "x"},
        {"email": "a@example.org"},
        {"password": "x"},
        {"email": "a" * 300 + "@example.org", "password": "x"},
    ],
    ids=["malformed email", "no password", "no email", "overlong email"],
)
def test_sign_in_with_invalid_fields_is_422(db, client, body):
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 422
    assert response.json["error"]["details"]


# --- bearer tokens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer eap_not-a-real-token",
        "Basic dXNlcjpwYXNz",
        "expired",
        "revoked",
        "disabled user",
    ],
)
def test_missing_wrong_expired_or_revoked_token_is_401(db, client, header):
    user = UserFactory(staff=True)
    if header == "expired":
        header = f"Bearer {ApiTokenFactory(user=user, scopes='api', expired=True).plain}"
    elif header == "revoked":
        header = f"Bearer {ApiTokenFactory(user=user, scopes='api', revoked=True).plain}"
    elif header == "disabled user":
        user.active = False
        header = f"Bearer {ApiTokenFactory(user=user, scopes='api').plain}"
    db.session.commit()

    response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert set(response.json["error"]) == {"code", "message", "details"}


def test_last_use_of_a_token_is_recorded(db, client):
    user = UserFactory(staff=True)
    token = ApiTokenFactory(user=user, scopes="api")
    assert token.last_used_at is None

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.plain}"})
    assert me.status_code == 200

    last_used = _token_row(db, token.plain).last_used_at
    assert last_used is not None and utcnow() - last_used < dt.timedelta(seconds=10)


def test_a_service_token_may_not_act_as_a_user(db, api_client):
    tool = api_client(service="tool", scopes=["access:check"])
    response = tool.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json["error"]["code"] == "missing_scope"


# --- POST /api/v1/users --------------------------------------------------------------------

NEW_USER = {
    "email": "new.staff@example.org",
    "name": "New Staff",
    "role": "staff",
    "password": "a good long password",
}


def test_admin_creates_a_staff_account_that_can_sign_in(db, client, api_client):
    admin = api_client(UserFactory(admin=True))
    before = audit_head_seq()

    response = admin.post("/api/v1/users", json=NEW_USER)

    assert response.status_code == 201
    assert response.json["email"] == "new.staff@example.org"
    assert response.json["role"] == "staff"
    assert response.json["active"] is True
    assert "password" not in response.json and "password_hash" not in response.json
    assert audit_actions_since(before) == ["user.created"]
    signed_in = client.post(
        "/api/v1/auth/token", json={"email": NEW_USER["email"], "password": NEW_USER["password"]}
    )
    assert signed_in.status_code == 201


@pytest.mark.parametrize("role", ["staff", "artist", "service", "anonymous"])
def test_only_admins_create_users(db, api_client, role):
    if role == "service":
        caller = api_client(service="tool", scopes=["api"])
    elif role == "anonymous":
        caller = api_client()
    else:
        caller = api_client(UserFactory(role=role))
    db.session.commit()

    response = caller.post("/api/v1/users", json=NEW_USER)

    assert response.status_code == (401 if role == "anonymous" else 403)
    assert db.session.scalar(sa.select(User).where(User.email == NEW_USER["email"])) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not an email"}, "email"),
        ({"password": "short"}, "password"),
        ({"role": "artist"}, "role"),
        ({"role": "owner"}, "role"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
    ],
)
def test_invalid_user_fields_are_422_per_field(db, api_client, change, field):
    admin = api_client(UserFactory(admin=True))
    db.session.commit()

    response = admin.post("/api/v1/users", json={**NEW_USER, **change})

    assert response.status_code == 422
    assert field in response.json["error"]["details"]
    assert response.json["error"]["code"] == "validation_error"


def test_a_blank_name_is_422(db, api_client):
    admin = api_client(UserFactory(admin=True))
    db.session.commit()
    response = admin.post("/api/v1/users", json={**NEW_USER, "name": "   "})
    assert response.status_code == 422
    assert "name" in response.json["error"]["details"]


def test_duplicate_email_is_409_whatever_its_case(db, api_client):
    admin = api_client(UserFactory(admin=True))
    UserFactory(email="a@x.org")
    db.session.commit()

    response = admin.post("/api/v1/users", json={**NEW_USER, "email": "A@X.org"})

    assert response.status_code == 409
    assert "a@x.org" in response.json["error"]["message"]
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email == "a@x.org")) == 1


# --- GET /api/v1/me ------------------------------------------------------------------------


def test_me_for_an_artist_shows_their_access(db, api_client):
    grant = GrantFactory()
    artist = grant.membership.user

    response = api_client(artist).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json["id"] == artist.id
    assert response.json["email"] == artist.email
    assert response.json["role"] == "artist"
    assert response.json["access"]["allowed"] is True
    assert response.json["cohort"]["id"] == grant.membership.cohort_id
    assert "password_hash" not in response.json


def test_me_for_staff_has_no_access_section(db, api_client):
    staff = UserFactory(staff=True)
    response = api_client(staff).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json["role"] == "staff"
    assert response.json["access"] is None


# --- ending sessions -----------------------------------------------------------------------


def _redirects_to_login(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.usefixtures("fresh_user_per_request")
def test_disabling_a_user_ends_their_page_session_and_tokens(db, pages, api_client):
    admin = UserFactory(admin=True)
    artist = UserFactory()
    artist_api = api_client(artist)
    pages.login(artist)
    assert pages.get("/").headers["Location"].endswith("/dashboard")
    assert artist_api.get("/api/v1/me").status_code == 200

    service.set_user_active(admin.actor, artist, False)
    db.session.commit()

    assert _redirects_to_login(pages.get("/dashboard"))
    assert artist_api.get("/api/v1/me").status_code == 401


@pytest.mark.usefixtures("fresh_user_per_request")
def test_sign_out_rotates_the_session_token(db, pages):
    artist = UserFactory()
    pages.login(artist)
    old_session = artist.get_id()
    assert pages.get("/").headers["Location"].endswith("/dashboard")

    response = pages.post("/logout")
    assert _redirects_to_login(response)

    # Replaying the old session cookie (say, a copy kept by someone else) no longer works.
    with pages.client.session_transaction() as session:
        session["_user_id"] = old_session
    assert _redirects_to_login(pages.get("/dashboard"))
    db.session.refresh(artist)
    assert artist.get_id() != old_session


def test_a_signed_in_page_session_does_not_authenticate_the_api(db, pages):
    """The API is exempt from CSRF, so a session cookie must not work there: a page could
    otherwise make a signed-in admin's browser call it. API requests never set the cookie."""
    pages.login(UserFactory(admin=True))
    assert pages.client.get("/admin/cohorts").status_code == 200  # the session works on pages

    response = pages.client.get("/api/v1/me")

    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers

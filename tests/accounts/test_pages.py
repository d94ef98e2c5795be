"""Sign-in, sign-out, the navigation of each role, and the admin page for users and tokens."""

from __future__ import annotations

import re

import pytest

from access_program.accounts.models import ApiToken, User
from access_program.db import db as _db
from access_program.extensions import limiter
from tests.factories import PASSWORD, ApiTokenFactory, MembershipFactory, UserFactory
from tests.helpers import audit_count

WRONG = "Email or password is wrong."


@pytest.fixture
def fresh_limits():
    """The limiter's memory storage is shared by every test: start and end with it empty."""
    limiter.reset()
    yield
    limiter.reset()


pytestmark = pytest.mark.usefixtures("fresh_user_per_request")


def signed_in(pages, user: User):
    """Commit the preconditions first: a refused request rolls the session back to here."""
    _db.session.commit()
    return pages.login(user)


def sign_in(pages, email: str, password: str, url: str = "/login"):
    return pages.post(url, {"email": email, "password": password})


# --- sign-in -------------------------------------------------------------------------------


def test_login_page_renders_a_form_with_a_csrf_token(db, client):
    response = client.get("/login")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Sign in</h1>" in html
    assert 'name="csrf_token"' in html
    assert 'for="email"' in html and 'for="password"' in html


def test_signing_in_lands_on_the_home_of_the_role(db, pages, fresh_limits):
    artist = MembershipFactory().user
    db.session.commit()
    response = sign_in(pages, artist.email, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    page = pages.get("/dashboard")
    assert f"Signed in as {artist.email}." in page.text
    assert audit_count("user.signed_in") == 1


def test_email_is_matched_whatever_its_case(db, pages, fresh_limits):
    admin = UserFactory(admin=True)
    db.session.commit()
    response = sign_in(pages, admin.email.upper(), PASSWORD)
    assert response.headers["Location"] == "/admin/cohorts"


def test_wrong_password_and_unknown_email_get_the_same_answer(db, pages, fresh_limits):
    user = UserFactory()
    db.session.commit()
    wrong_password = sign_in(pages, user.email, "not the password")
    unknown_email = sign_in(pages, "nobody@example.org", PASSWORD)
    assert wrong_password.status_code == unknown_email.status_code == 200
    for response, email in ((wrong_password, user.email), (unknown_email, "nobody@example.org")):
        assert WRONG in response.text
        assert "There is a problem" in response.text
        assert f'value="{email}"' in response.text  # the email is kept
        assert "not the password" not in response.text  # the password is not
    assert audit_count("user.signed_in") == 0


def test_disabled_account_cannot_sign_in(db, pages, fresh_limits):
    user = UserFactory(disabled=True)
    db.session.commit()
    response = sign_in(pages, user.email, PASSWORD)
    assert response.status_code == 200
    assert WRONG in response.text


def test_sixth_failed_attempt_is_throttled(db, pages, fresh_limits):
    user = UserFactory()
    db.session.commit()
    for _ in range(5):
        assert sign_in(pages, user.email, "wrong password").status_code == 200
    throttled = sign_in(pages, user.email, PASSWORD)
    assert throttled.status_code == 429
    assert "Too many attempts" in throttled.text


def test_successful_sign_ins_are_not_counted_as_failures(db, pages, fresh_limits):
    user = UserFactory()
    db.session.commit()
    for _ in range(6):
        assert sign_in(pages, user.email, PASSWORD).status_code == 302
        pages.post("/logout")


def test_a_safe_next_page_is_followed(db, pages, fresh_limits):
    admin = UserFactory(admin=True)
    db.session.commit()
    response = sign_in(pages, admin.email, PASSWORD, url="/login?next=/admin/terms")
    assert response.headers["Location"] == "/admin/terms"


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example/x", "/\\evil.example", "evil.example"]
)
def test_an_offsite_next_page_is_ignored(db, pages, fresh_limits, target):
    admin = UserFactory(admin=True)
    db.session.commit()
    response = sign_in(pages, admin.email, PASSWORD, url=f"/login?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/cohorts"


def test_signed_out_visitor_is_sent_to_sign_in_with_the_page_to_return_to(db, client):
    response = client.get("/admin/cohorts")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_posting_without_the_csrf_token_is_refused(db, client, fresh_limits):
    user = UserFactory()
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert audit_count("user.signed_in") == 0


def test_sign_out_ends_every_session_of_the_user(db, app, pages):
    artist = MembershipFactory().user
    db.session.commit()
    other_browser = app.test_client()
    with other_browser.session_transaction() as session:
        session["_user_id"] = artist.get_id()
    pages.login(artist)
    assert pages.get("/dashboard").status_code == 200
    response = pages.post("/logout")
    assert response.headers["Location"] == "/login"
    assert "You are signed out." in pages.get("/login").text
    assert pages.get("/dashboard").status_code == 302
    assert other_browser.get("/dashboard").status_code == 302
    assert audit_count("user.signed_out") == 1


def test_signed_in_visitor_skips_the_login_page(db, pages):
    signed_in(pages, UserFactory(staff=True))
    assert pages.get("/login").headers["Location"] == "/staff/artists"


# --- navigation ----------------------------------------------------------------------------

NAV_LINK = re.compile(r'<a href="([^"]+)" class="site-nav__link')


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("artist", ["/dashboard", "/terms", "/me/record"]),
        ("staff", ["/staff/artists"]),
        (
            "admin",
            [
                "/admin/cohorts",
                "/admin/terms",
                "/staff/artists",
                "/admin/pauses",
                "/admin/audit",
                "/admin/outbox",
                "/admin/users",
            ],
        ),
    ],
)
def test_every_navigation_link_of_a_role_works(db, pages, role, expected):
    membership = MembershipFactory()
    user = membership.user if role == "artist" else UserFactory(**{role: True})
    db.session.commit()
    pages.login(user)
    home = pages.get("/", follow_redirects=True)
    links = [link for link in NAV_LINK.findall(home.text) if link.startswith("/")]
    assert set(expected) <= set(links)
    for link in links:
        page = pages.get(link)
        assert page.status_code == 200, link
        assert 'aria-current="page"' in page.text, link


def test_no_navigation_when_signed_out(db, client):
    assert "site-nav__link" not in client.get("/login").text


# --- admin: users and tokens ---------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("staff", 403), ("artist", 403)])
def test_users_page_is_for_admins(db, pages, role, status):
    signed_in(pages, UserFactory(**({role: True} if role != "artist" else {})))
    assert pages.get("/admin/users").status_code == status


def test_admin_creates_a_staff_account(db, pages):
    signed_in(pages, UserFactory(admin=True))
    response = pages.post(
        "/admin/users",
        {
            "name": "Rita Reviewer",
            "email": "Rita@Example.org",
            "role": "staff",
            "password": "a long enough password",
        },
    )
    assert response.status_code == 302
    page = pages.get("/admin/users")
    assert "Account created for rita@example.org (staff)." in page.text
    assert "Rita Reviewer" in page.text
    assert audit_count("user.created") == 1


def test_a_bad_new_account_is_shown_again_with_its_values(db, pages):
    signed_in(pages, UserFactory(admin=True))
    response = pages.post(
        "/admin/users",
        {
            "name": "Rita Reviewer",
            "email": "rita@example.org",
            "role": "staff",
            "password": "short",
        },
    )
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert 'value="Rita Reviewer"' in response.text
    assert 'value="rita@example.org"' in response.text
    assert "Use at least 10 characters." in response.text
    assert audit_count("user.created") == 0


def test_a_taken_email_is_refused_next_to_the_field(db, pages):
    existing = UserFactory(staff=True)
    db.session.commit()
    signed_in(pages, UserFactory(admin=True))
    response = pages.post(
        "/admin/users",
        {"name": "Twin", "email": existing.email, "role": "staff", "password": "long password 1"},
    )
    assert response.status_code == 409
    assert f"An account for {existing.email} already exists." in response.text


def test_admin_disables_and_enables_an_account(db, pages):
    staff = UserFactory(staff=True)
    db.session.commit()
    signed_in(pages, UserFactory(admin=True))
    assert pages.post(f"/admin/users/{staff.id}/active").status_code == 302
    assert f"{staff.email} is now disabled." in pages.get("/admin/users").text
    assert db.session.get(User, staff.id).active is False
    pages.post(f"/admin/users/{staff.id}/active")
    assert db.session.get(User, staff.id).active is True


def test_admin_cannot_disable_themselves(db, pages):
    admin = UserFactory(admin=True)
    db.session.commit()
    pages.login(admin)
    pages.post(f"/admin/users/{admin.id}/active")
    assert "You cannot disable your own account." in pages.get("/admin/users").text
    assert db.session.get(User, admin.id).active is True


def test_a_new_token_is_shown_once_and_works(db, pages, client):
    signed_in(pages, UserFactory(admin=True))
    response = pages.post(
        "/admin/tokens", {"token-service_name": "generation-tool", "token-scopes": "access:check"}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    plain = re.search(r'id="new-token">(eap_[^<]+)<', response.text).group(1)
    assert "Copy the new token now" in response.text
    listing = pages.get("/admin/users").text
    assert plain not in listing
    assert plain[:10] in listing
    artist = MembershipFactory().user
    check = client.get(f"/api/v1/access/{artist.id}", headers={"Authorization": f"Bearer {plain}"})
    assert check.status_code == 200


def test_a_token_needs_a_scope(db, pages):
    signed_in(pages, UserFactory(admin=True))
    response = pages.post("/admin/tokens", {"token-service_name": "script"})
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert audit_count("token.created") == 0


def test_admin_revokes_a_token(db, pages):
    token = ApiTokenFactory()
    db.session.commit()
    signed_in(pages, UserFactory(admin=True))
    assert pages.post(f"/admin/tokens/{token.id}/revoke").status_code == 302
    assert f"Token {token.prefix}… revoked." in pages.get("/admin/users").text
    assert db.session.get(ApiToken, token.id).revoked_at is not None

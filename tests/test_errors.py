"""One error vocabulary: JSON {"error": {code, message, details}} under /api, pages elsewhere;
nothing a client sends gets a 500."""

from __future__ import annotations

import pytest

from access_program.accounts import service as accounts
from access_program.extensions import limiter
from tests.factories import PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def fresh_limiter():
    limiter.reset()
    yield
    limiter.reset()


def assert_api_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    if code:
        assert error["code"] == code
    return error


def assert_html_error(response, status: int, text: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert text in response.get_data(as_text=True)


# --- the JSON shape ------------------------------------------------------------------------


def test_unknown_api_route_is_json_404(client):
    assert_api_error(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_unknown_api_route_is_json_even_when_a_browser_asks(client):
    response = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert_api_error(response, 404, "not_found")


def test_wrong_method_under_api_is_json_405(client):
    assert_api_error(client.delete("/api/v1/auth/token"), 405, "method_not_allowed")


def test_missing_token_is_json_401_with_a_challenge(client):
    response = client.get("/api/v1/me")
    assert_api_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_forbidden_is_json_403(db, api_client):
    error = assert_api_error(
        api_client(UserFactory()).post("/api/v1/users", json={}), 403, "forbidden"
    )
    assert "admin" in error["message"]


def test_a_conflict_is_json_409_saying_why(db, api_client):
    admin = api_client(UserFactory(admin=True))
    UserFactory(email="taken@example.org")
    db.session.commit()
    body = {"email": "taken@example.org", "name": "T", "role": "staff", "password": "x" * 12}
    error = assert_api_error(admin.post("/api/v1/users", json=body), 409, "email_taken")
    assert "taken@example.org" in error["message"]


def test_validation_is_json_422_with_a_message_per_field(db, api_client):
    admin = api_client(UserFactory(admin=True))
    db.session.commit()
    response = admin.post("/api/v1/users", json={"email": "nope", "role": "artist"})
    error = assert_api_error(response, 422, "validation_error")
    assert set(error["details"]) == {"email", "role", "name", "password"}
    assert all(isinstance(msgs, list) and msgs for msgs in error["details"].values())
    assert "email" in error["message"]


# --- HTML pages keep HTML error pages -------------------------------------------------------


def test_unknown_page_is_an_html_404(client):
    assert_html_error(client.get("/no-such-page"), 404, "Page not found")


def test_wrong_method_on_a_page_is_an_html_405(client):
    assert_html_error(client.delete("/login"), 405, "405")


def test_a_client_that_wants_only_json_gets_json_outside_api(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert_api_error(response, 404, "not_found")


# --- bad bodies never 500 -------------------------------------------------------------------

BAD_BODIES = {
    "malformed json": (b'{"email": "a@b.org", "password": ', "application/json"),
    "not an object": (b"[1, 2, 3]", "application/json"),
    "a bare string": (b'"hello"', "application/json"),
    "null": (b"null", "application/json"),
    "invalid utf-8": (b'{"email": "\xff\xfe"}', "application/json"),
    "form instead of json": (b"email=a%40b.org&password=x", "application/x-www-form-urlencoded"),
    "no content type": (b'{"email": "a@b.org"}', None),
    "huge garbage": (b"\x00\x01garbage" * 300_000, "application/json"),
    "huge string": (b'{"password": "%s"}' % (b"x" * 3_000_000), "application/json"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
}  # fmt: skip


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_bodies_get_a_4xx_json_error(client, db, body):
    data, content_type = body
    response = client.post("/api/v1/auth/token", data=data, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert_api_error(response, response.status_code)


@pytest.mark.parametrize(
    "query",
    ["page=abc", "page=0", "page_size=100000", "page=99999999999999999999999", "since=%00"],
)
def test_bad_query_strings_get_a_4xx(db, api_client, query):
    admin = api_client(UserFactory(admin=True))
    db.session.commit()
    response = admin.get(f"/api/v1/audit-events?{query}")
    assert_api_error(response, 422)


def test_bad_form_posts_to_pages_do_not_500(db, pages):
    response = pages.post("/login", data={"email": "x" * 100_000, "password": "\x00"})
    assert response.status_code < 500


# --- the unexpected ------------------------------------------------------------------------


@pytest.fixture
def broken_sign_in(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(accounts, "authenticate", explode)


def test_an_unexpected_error_is_a_json_500_that_leaks_nothing(db, client, broken_sign_in):
    response = client.post("/api/v1/auth/token", json={"email": "a@b.org", "password": PASSWORD})
    error = assert_api_error(response, 500, "internal_error")
    assert "internal detail" not in response.get_data(as_text=True)
    assert "Nothing was changed" in error["message"]


def test_an_unexpected_error_on_a_page_is_an_html_500(db, pages, broken_sign_in):
    response = pages.post("/login", data={"email": "a@b.org", "password": PASSWORD})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert "internal detail" not in response.get_data(as_text=True)

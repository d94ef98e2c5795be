"""The report is public and runs a dozen aggregate queries: each client address may ask for it
60 times a minute (``TRANSPARENCY_RATE_LIMIT``), on the page and on the API.

The limiter's memory storage is emptied before and after every test (conftest.py)."""

from __future__ import annotations

import pytest

API, PAGE = "/api/v1/transparency", "/transparency"


@pytest.fixture
def limit_of_two(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRANSPARENCY_RATE_LIMIT", "2 per minute")


def test_the_api_allows_60_reports_a_minute_per_address_by_default(db, client, app):
    assert "TRANSPARENCY_RATE_LIMIT" not in app.config

    statuses = [client.get(API).status_code for _ in range(60)]
    blocked = client.get(API, query_string={"cohort_id": 1})

    assert statuses == [200] * 60
    assert blocked.status_code == 429
    assert blocked.json == {
        "error": {
            "code": "too_many_requests",
            "message": blocked.json["error"]["message"],
            "details": {},
        }
    }
    assert "Wait" in blocked.json["error"]["message"]
    assert int(blocked.headers["Retry-After"]) > 0


def test_the_limit_is_read_from_the_config(db, client, limit_of_two):
    assert [client.get(API).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(PAGE).status_code == 200  # the page and the API count apart


def test_the_limit_is_per_client_address(db, client, limit_of_two):
    first = {"REMOTE_ADDR": "203.0.113.7"}
    other = {"REMOTE_ADDR": "198.51.100.9"}

    assert [client.get(API, environ_base=first).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(API, environ_base=other).status_code == 200


def test_the_page_is_limited_too_and_answers_429_in_html(db, client, limit_of_two):
    statuses = [client.get(PAGE).status_code for _ in range(2)]
    blocked = client.get(PAGE)

    assert statuses == [200, 200]
    assert blocked.status_code == 429
    assert blocked.mimetype == "text/html"
    assert "Retry-After" in blocked.headers


def test_the_429_is_documented(db, client):
    spec = client.get("/api/v1/openapi.json").json

    assert "429" in spec["paths"][API]["get"]["responses"]

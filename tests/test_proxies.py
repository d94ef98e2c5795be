"""TRUSTED_PROXY_HOPS: behind a proxy the app sees the client's address (rate limits, audit)."""

from __future__ import annotations

import pytest
from flask import request

from access_program import create_app


@pytest.mark.parametrize(("hops", "seen"), [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_the_client_address_comes_from_trusted_proxies_only(hops, seen):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://", TRUSTED_PROXY_HOPS=hops)
    app.add_url_rule("/_address", "address", lambda: request.remote_addr or "")

    response = app.test_client().get(
        "/_address",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )

    assert response.get_data(as_text=True) == seen

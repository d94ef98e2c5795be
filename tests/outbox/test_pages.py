"""Pages: the admin outbox."""

from __future__ import annotations

import pytest

from access_program.accounts.models import User
from access_program.db import db as _db
from access_program.db import utcnow
from access_program.outbox.service import queue_email
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.usefixtures("fresh_user_per_request")


def signed_in(pages, user: User):
    """Commit the preconditions first: a refused request rolls the session back to here."""
    _db.session.commit()
    return pages.login(user)


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("staff", 403), ("artist", 403)])
def test_outbox_is_for_admins(db, pages, role, status):
    user = MembershipFactory().user if role == "artist" else UserFactory(**{role: True})
    signed_in(pages, user)
    assert pages.get("/admin/outbox").status_code == status


def test_signed_out_visitors_are_sent_to_sign_in(db, client):
    assert client.get("/admin/outbox").headers["Location"].startswith("/login")


def test_outbox_lists_messages_and_their_delivery(db, pages):
    queue_email("invitation", "a@example.org", "You're invited", "Open <this> link")
    sent = queue_email("pause.started", "b@example.org", "Tool access is paused", "Sorry.")
    sent.sent_at = utcnow()
    failing = queue_email("grant.revoked", "c@example.org", "Access revoked", "Reason.")
    failing.attempts, failing.last_error = 2, "SMTP refused"
    signed_in(pages, UserFactory(admin=True))
    html = pages.get("/admin/outbox").text
    assert "You&#39;re invited" in html
    assert "Open &lt;this&gt; link" in html
    assert ">not sent yet<" in html and ">sent<" in html and ">failing<" in html
    assert "SMTP refused" in html and "2 attempts" in html


def test_outbox_filters(db, pages):
    queue_email("invitation", "a@example.org", "You're invited", "Body")
    sent = queue_email("pause.started", "b@example.org", "Tool access is paused", "Body")
    sent.sent_at = utcnow()
    signed_in(pages, UserFactory(admin=True))
    by_kind = pages.get("/admin/outbox?kind=invitation").text
    assert "a@example.org" in by_kind and "b@example.org" not in by_kind
    unsent = pages.get("/admin/outbox?state=queued").text
    assert "a@example.org" in unsent and "b@example.org" not in unsent
    nothing = pages.get("/admin/outbox?kind=nothing-of-this-kind").text
    assert "No message matches." in nothing


def test_empty_outbox_says_what_fills_it(db, pages):
    signed_in(pages, UserFactory(admin=True))
    assert "No emails yet." in pages.get("/admin/outbox").text

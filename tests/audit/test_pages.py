"""Pages: the admin audit log with its filters, and an artist's own record."""

from __future__ import annotations

import datetime as dt

import pytest

from access_program import audit
from access_program.accounts.models import User
from access_program.audit.service import Actor, head
from access_program.db import db as _db
from tests.factories import GrantFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.usefixtures("fresh_user_per_request")


def signed_in(pages, user: User):
    """Commit the preconditions first: a refused request rolls the session back to here."""
    _db.session.commit()
    return pages.login(user)


def event(action: str, artist: User | None = None, **data):
    return audit.record(
        Actor.system("test"),
        action,
        "user",
        artist.id if artist else None,
        artist_id=artist.id if artist else None,
        data=data,
    )


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("staff", 403), ("artist", 403)])
def test_audit_log_is_for_admins(db, pages, role, status):
    user = MembershipFactory().user if role == "artist" else UserFactory(**{role: True})
    signed_in(pages, user)
    assert pages.get("/admin/audit").status_code == status


@pytest.mark.parametrize("path", ["/admin/audit", "/me/record"])
def test_signed_out_visitors_are_sent_to_sign_in(db, client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_audit_log_shows_events_with_the_chain_head(db, pages):
    artist = UserFactory(name="Ana Artist")
    event("grant.revoked", artist, category="other", reason="A <b>test</b>")
    signed_in(pages, UserFactory(admin=True))
    html = pages.get("/admin/audit").text
    seq, head_hash = head()
    assert head_hash in html
    assert f'<td class="num">{seq}</td>' in html
    assert "<code>grant.revoked</code>" in html
    # data as compact JSON, escaped
    assert (
        "{&#34;category&#34;:&#34;other&#34;,&#34;reason&#34;:&#34;A &lt;b&gt;test&lt;/b&gt;&#34;}"
        in html
    )
    assert f'href="/staff/artists/{artist.id}"' in html


def test_audit_log_filters_by_action_artist_and_dates(db, pages):
    ana, bo = UserFactory(), UserFactory()
    event("grant.created", ana, marker="ana-created")
    event("grant.revoked", ana, marker="ana-revoked")
    event("pause.started", None, marker="a-pause")
    event("grant.created", bo, marker="bo-created")
    signed_in(pages, UserFactory(admin=True))

    exact = pages.get("/admin/audit?action=grant.revoked").text
    assert "ana-revoked" in exact and "ana-created" not in exact and "a-pause" not in exact

    prefix = pages.get("/admin/audit?action=grant.").text
    assert "ana-created" in prefix and "bo-created" in prefix and "a-pause" not in prefix

    by_artist = pages.get(f"/admin/audit?artist_id={ana.id}").text
    assert "ana-created" in by_artist and "ana-revoked" in by_artist
    assert "bo-created" not in by_artist and "a-pause" not in by_artist

    today = dt.datetime.now(dt.UTC).date()
    in_range = pages.get(f"/admin/audit?since={today}&until={today}").text
    assert "ana-created" in in_range  # "until" includes the whole day
    tomorrow = today + dt.timedelta(days=1)
    later = pages.get(f"/admin/audit?since={tomorrow}").text
    assert "ana-created" not in later
    assert "No event matches these filters." in later


def test_bad_filter_values_are_explained_not_fatal(db, pages):
    signed_in(pages, UserFactory(admin=True))
    response = pages.get("/admin/audit?since=yesterday&artist_id=abc")
    assert response.status_code == 200
    assert "Use a date such as 2027-01-31" in response.text
    assert "Use the artist&#39;s number" in response.text
    assert 'value="yesterday"' in response.text


def test_audit_log_is_paginated(db, pages):
    for n in range(51):
        event("test.event", None, n=n)
    signed_in(pages, UserFactory(admin=True))
    first = pages.get("/admin/audit?action=test.event").text
    assert "Page 1 of 2" in first
    assert "action=test.event" in first and "page=2" in first


def test_my_record_shows_only_my_events(db, pages):
    grant = GrantFactory()
    me, other = grant.user, UserFactory()
    event("grant.revoked", me, category="inactivity", reason="Not seen for 90 days.")
    event("grant.revoked", other, category="misconduct", reason="Someone else's reason.")
    signed_in(pages, me)
    html = pages.get("/me/record").text
    assert "Tool access was revoked" in html
    assert "Inactivity: Not seen for 90 days." in html
    assert "Someone else&#39;s reason." not in html
    assert "by the system (test)" in html


def test_my_record_when_nothing_happened_yet(db, pages):
    signed_in(pages, UserFactory())
    assert "Nothing is recorded about you yet." in pages.get("/me/record").text


def test_my_record_says_you_for_your_own_actions(db, pages):
    membership = MembershipFactory()
    artist = membership.user
    audit.record(artist.actor, "user.signed_in", "user", artist.id, artist_id=artist.id)
    signed_in(pages, artist)
    html = pages.get("/me/record").text
    assert "You signed in" in html
    assert f"by {artist.email}" not in html

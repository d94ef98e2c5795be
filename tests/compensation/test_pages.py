"""The money pages: an artist's balance, contributions, statement and export; staff deciding
contributions and logging sessions and marketing uses; admin adjustments."""

from __future__ import annotations

import json

import pytest

from access_program.compensation import service
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def member(db):
    return MembershipFactory().user


def propose(artist, title="Crash on export"):
    return service.propose_contribution(artist, kind="bug_report", severity="high", title=title)


@pytest.mark.parametrize(
    ("role", "url", "expected"),
    [
        ("artist", "/money", 200),
        ("artist", "/money/statement", 200),
        ("artist", "/staff/contributions", 403),
        ("artist", "/admin/adjustments/new", 403),
        ("staff", "/money", 403),
        ("staff", "/staff/contributions", 200),
        ("staff", "/staff/feedback-sessions/new", 200),
        ("staff", "/staff/marketing-uses/new", 200),
        ("staff", "/admin/adjustments/new", 403),
        ("admin", "/staff/contributions", 200),
        ("admin", "/admin/adjustments/new", 200),
    ],
)
def test_pages_render_per_role(pages, member, role, url, expected):
    user = {"artist": member, "staff": UserFactory(staff=True), "admin": UserFactory(admin=True)}
    assert pages.login(user[role]).get(url).status_code == expected


def test_money_page_shows_balance_contributions_and_decline_reasons(pages, member):
    staff = UserFactory(staff=True)
    service.accept_contribution(staff, propose(member, "Accepted one"))
    service.decline_contribution(staff, propose(member, "Declined one"), "Known issue already")
    html = pages.login(member).get("/money").get_data(as_text=True)
    assert "$150.00" in html
    assert "Declined one" in html and "Known issue already" in html
    assert "Set up payouts" in html


def test_artist_proposes_a_bug_report(pages, member, db):
    response = pages.login(member).post(
        "/money/contributions",
        {"kind": "bug_report", "title": "Mask bleeds", "severity": "low"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "“Mask bleeds” proposed" in response.get_data(as_text=True)
    proposed = db.session.scalars(service.contributions_query(artist_id=member.id)).all()
    assert [(c.title, c.status) for c in proposed] == [("Mask bleeds", "proposed")]


def test_a_refused_proposal_keeps_the_values_and_says_why(pages, member):
    response = pages.login(member).post(
        "/money/contributions", {"kind": "feedback_session", "title": "Long call", "hours": "30"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "at most 24" in html
    assert 'value="Long call"' in html and 'value="30"' in html


def test_missing_csrf_token_is_a_400(client, pages, member):
    pages.login(member)
    response = client.post("/money/contributions", data={"kind": "bug_report", "title": "x"})
    assert response.status_code == 400


def test_statement_csv_and_export_are_the_artists_own(pages, member):
    service.accept_contribution(UserFactory(staff=True), propose(member))
    pages.login(member)
    csv = pages.get("/money/statement.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "Crash on export" in csv.get_data(as_text=True)
    export = pages.get("/money/export")
    assert export.mimetype == "application/json"
    assert json.loads(export.get_data(as_text=True))
    assert pages.get("/money/statement?from=2026-13-01").status_code == 422


def test_staff_accept_and_decline_with_a_reason(pages, member):
    first, second = propose(member, "First"), propose(member, "Second")
    pages.login(UserFactory(staff=True))
    response = pages.post(f"/staff/contributions/{first.id}/accept", follow_redirects=True)
    assert "Accepted “First”" in response.get_data(as_text=True)
    assert first.status == "accepted"
    refused = pages.post(f"/staff/contributions/{second.id}/decline", {"reason": ""})
    assert refused.status_code == 422 and second.status == "proposed"
    pages.post(f"/staff/contributions/{second.id}/decline", {"reason": "Duplicate of #1"})
    assert second.status == "declined" and second.decline_reason == "Duplicate of #1"
    again = pages.post(f"/staff/contributions/{first.id}/accept")
    assert again.status_code == 409
    assert pages.post("/staff/contributions/999999/accept").status_code == 404


def test_an_artist_cannot_decide_contributions(pages, member):
    contribution = propose(member)
    response = pages.login(member).post(f"/staff/contributions/{contribution.id}/accept")
    assert response.status_code == 403
    assert contribution.status == "proposed"


def test_staff_log_a_feedback_session_for_several_artists(pages, member):
    other = MembershipFactory().user
    pages.login(UserFactory(staff=True))
    response = pages.post(
        "/staff/feedback-sessions/new",
        {
            "title": "Model review",
            "held_on": service._today().isoformat(),
            "hours": "1.5",
            "artist_ids": [str(member.id), str(other.id)],
        },
        follow_redirects=True,
    )
    assert "2 artists credited" in response.get_data(as_text=True)
    assert service.balance(member.id)[0] == 7500
    bad = pages.post(
        "/staff/feedback-sessions/new",
        {"title": "Too long", "held_on": "2020-01-01", "hours": "0", "artist_ids": [member.id]},
    )
    assert bad.status_code == 422 and 'value="Too long"' in bad.get_data(as_text=True)


def test_marketing_use_needs_an_approved_request(pages):
    response = pages.login(UserFactory(staff=True)).post(
        "/staff/marketing-uses/new", {"submission_id": "", "channel": "Blog", "used_on": ""}
    )
    assert response.status_code == 422
    assert 'value="Blog"' in response.get_data(as_text=True)


def test_admin_adjustment_in_decimal_becomes_minor_units(pages, member):
    pages.login(UserFactory(admin=True))
    response = pages.post(
        "/admin/adjustments/new",
        {"artist_id": str(member.id), "amount": "12.5", "reason": "Late fee"},
        follow_redirects=True,
    )
    assert "$12.50 recorded" in response.get_data(as_text=True)
    assert service.balance(member.id)[0] == 1250
    for amount, message in (("0", "non-zero"), ("1.234", "two decimals")):
        bad = pages.post(
            "/admin/adjustments/new",
            {"artist_id": str(member.id), "amount": amount, "reason": "Oops"},
        )
        assert bad.status_code == 422 and message in bad.get_data(as_text=True)
    assert service.balance(member.id)[0] == 1250

"""Payout pages: onboarding redirects, the return page, and admins' payout runs."""

from __future__ import annotations

import pytest

from access_program.payouts import accounts
from access_program.payouts.models import PayoutRun
from tests.factories import MembershipFactory, UserFactory
from tests.payouts.runs_support import credit


@pytest.fixture
def member(db):
    return MembershipFactory().user


@pytest.mark.parametrize(
    ("role", "url", "expected"),
    [
        ("artist", "/payouts/setup/return", 200),
        ("artist", "/admin/payout-runs", 403),
        ("staff", "/admin/payout-runs", 403),
        ("staff", "/payouts/setup/return", 403),
        ("admin", "/admin/payout-runs", 200),
        ("admin", "/admin/payout-runs/999999", 404),
    ],
)
def test_pages_render_per_role(pages, member, role, url, expected):
    user = {"artist": member, "staff": UserFactory(staff=True), "admin": UserFactory(admin=True)}
    assert pages.login(user[role]).get(url).status_code == expected


def test_return_page_never_claims_readiness(pages, member):
    html = pages.login(member).get("/payouts/setup/return").get_data(as_text=True)
    assert "We'll confirm when Stripe tells us" in html
    assert accounts.account_status(accounts.get_payout_account(member)) == "none"


def test_set_up_payouts_redirects_to_the_onboarding_link(pages, member, monkeypatch):
    calls = []

    def fake_start(artist, *, refresh_url, return_url):
        calls.append((artist.id, refresh_url, return_url))
        return "https://connect.example/onboarding/acct_1"

    monkeypatch.setattr(accounts, "start_onboarding", fake_start)
    response = pages.login(member).post("/payouts/setup")
    assert response.status_code == 303
    assert response.location == "https://connect.example/onboarding/acct_1"
    assert calls[0][0] == member.id and calls[0][2].endswith("/payouts/setup/return")


def test_stripe_refusing_onboarding_is_a_flash_not_a_500(pages, member, monkeypatch):
    def refuse(artist, **_):
        raise accounts.StripeUnavailable("Stripe could not start onboarding just now.")

    monkeypatch.setattr(accounts, "start_onboarding", refuse)
    response = pages.login(member).post("/payouts/setup", follow_redirects=True)
    assert response.status_code == 200
    assert "Stripe could not start onboarding" in response.get_data(as_text=True)


def test_setup_needs_a_csrf_token(client, pages, member):
    pages.login(member)
    assert client.post("/payouts/setup").status_code == 400


def test_admin_opens_a_run_and_sees_who_is_blocked_and_why(pages, member, db):
    credit(member.id, 9000)
    pages.login(UserFactory(admin=True))
    response = pages.post("/admin/payout-runs", {"cohort_id": ""}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Blocked (1)" in html and "no payout account" in html
    assert "$90.00" in html
    run = db.session.query(PayoutRun).one()
    assert run.status == "preview"
    # Nothing payable: no Execute button, and the confirmation page sends you back.
    assert '/execute"' not in html
    confirm = pages.get(f"/admin/payout-runs/{run.id}/execute")
    assert confirm.status_code == 303


def test_unknown_cohort_is_a_field_error(pages):
    response = pages.login(UserFactory(admin=True)).post(
        "/admin/payout-runs", {"cohort_id": "424242"}
    )
    assert response.status_code == 422


def test_admin_cancels_a_previewed_run_from_its_page(pages, member, db):
    credit(member.id, 9000)
    pages.login(UserFactory(admin=True))
    pages.post("/admin/payout-runs", {"cohort_id": ""})
    run = db.session.query(PayoutRun).one()
    detail = pages.get(f"/admin/payout-runs/{run.id}").get_data(as_text=True)
    assert "Cancel this run" in detail

    too_long = pages.post(f"/admin/payout-runs/{run.id}/cancel", {"reason": "x" * 501})
    assert too_long.status_code == 422
    assert "500 characters" in too_long.get_data(as_text=True)
    assert pages.client.post(f"/admin/payout-runs/{run.id}/cancel").status_code == 400
    db.session.refresh(run)
    assert run.status == "preview"

    response = pages.post(
        f"/admin/payout-runs/{run.id}/cancel",
        {"reason": "Opened by mistake."},
        follow_redirects=True,
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Payout run {run.id} cancelled: nothing was sent." in html
    assert 'data-testid="run-cancelled"' in html and "Cancel this run" not in html
    db.session.refresh(run)
    assert run.status == "cancelled"
    again = pages.post(f"/admin/payout-runs/{run.id}/cancel", {"reason": ""})
    assert again.status_code == 409
    assert "already cancelled" in again.get_data(as_text=True)

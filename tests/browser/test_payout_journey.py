"""The payout journey, clicked through in Chromium against the Stripe emulator:

artist signs in → "Set up payouts" → the emulator's onboarding page → "Complete onboarding" →
back on the app's return page; the emulator's signed account.updated webhook makes the account
ready → the artist proposes a bug report → staff accept it → an admin opens a run, reads the
preview, executes it through the confirmation step → the artist's money page shows the payout
paid with its transfer id and a balance of $0.00.
"""

from __future__ import annotations

import re
import threading

import pytest
from flask import request, request_finished

from access_program.db import unit_of_work
from access_program.payouts.emulator import EmulatorServer
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser

ARTIST_EMAIL = "payee@journey.example"
STAFF_EMAIL = "staff@journey.example"
ADMIN_EMAIL = "payer@journey.example"
BUG_TITLE = "Upscaler crashes on 8K input"
WEBHOOK_WAIT_SECONDS = 15.0


@pytest.fixture(scope="module")
def stripe_world(live_server):
    """The emulator on loopback posting signed webhooks to the live app, which calls it."""
    app = live_server.app
    emulator = EmulatorServer(
        webhook_url=f"{live_server.url}/webhooks/stripe",
        webhook_secret=app.config["STRIPE_WEBHOOK_SECRET"],
        api_key=app.config["STRIPE_SECRET_KEY"],
    ).start()
    previous = app.config.get("STRIPE_API_BASE")
    app.config["STRIPE_API_BASE"] = emulator.url
    with app.app_context(), unit_of_work():
        UserFactory(email=ADMIN_EMAIL, name="Pay Admin", admin=True)
        UserFactory(email=STAFF_EMAIL, name="Sam Staff", staff=True)
        artist = UserFactory(email=ARTIST_EMAIL, name="Ada Payee")
        MembershipFactory(user=artist)
    try:
        yield live_server
    finally:
        app.config["STRIPE_API_BASE"] = previous
        emulator.stop()


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_artist_is_paid_through_stripe_after_onboarding_and_an_accepted_bug_report(
    stripe_world, new_page
):
    base = stripe_world.url
    artist = new_page()
    sign_in(artist, base, ARTIST_EMAIL)

    # Set up payouts: the emulator's hosted onboarding page, one click, back to the app.
    artist.goto(f"{base}/money")
    artist.get_by_role("button", name="Set up payouts").click()
    artist.get_by_role("heading", name="Express onboarding").wait_for()
    # Readiness comes from the webhook, not the redirect: wait until the app has committed the
    # emulator's account.updated delivery, then the money page must say ready.
    webhook_answered = threading.Event()

    def on_request_finished(sender, response, **extra):
        if request.path != "/webhooks/stripe" or response.status_code != 200:
            return
        event = request.get_json(silent=True) or {}
        account = event.get("data", {}).get("object", {})
        if event.get("type") == "account.updated" and account.get("payouts_enabled"):
            webhook_answered.set()

    request_finished.connect(on_request_finished, stripe_world.app)
    try:
        artist.get_by_role("button", name="Complete onboarding").click()
        artist.wait_for_url(re.compile(r"/payouts/setup/return$"))
        artist.get_by_text("We'll confirm when Stripe tells us").first.wait_for()
        assert webhook_answered.wait(WEBHOOK_WAIT_SECONDS), "account.updated never arrived"
    finally:
        request_finished.disconnect(on_request_finished, stripe_world.app)
    artist.goto(f"{base}/money")
    assert "ready" in artist.get_by_test_id("payout-account-status").inner_text()

    # Propose a bug report.
    artist.get_by_label("What did you do?").select_option("bug_report")
    artist.get_by_label("Title").fill(BUG_TITLE)
    artist.get_by_label("Severity").select_option("high")
    artist.get_by_role("button", name="Propose").click()
    artist.get_by_text(f"“{BUG_TITLE}” proposed").wait_for()

    # Staff accept it.
    staff = new_page()
    sign_in(staff, base, STAFF_EMAIL)
    staff.goto(f"{base}/staff/contributions")
    staff.get_by_role("button", name=f"Accept “{BUG_TITLE}”").click()
    staff.get_by_text(f"Accepted “{BUG_TITLE}”").wait_for()

    # The admin opens a run, reads the preview, confirms and executes it.
    admin = new_page()
    sign_in(admin, base, ADMIN_EMAIL)
    admin.goto(f"{base}/admin/payout-runs")
    admin.get_by_label("Cohort").select_option("")
    admin.get_by_role("button", name="Open a run (preview)").click()
    admin.wait_for_url(re.compile(r"/admin/payout-runs/\d+$"))
    payable = admin.locator("table", has=admin.get_by_text("Payable (1)"))
    assert "Ada Payee" in payable.inner_text()
    assert "$150.00" in payable.inner_text()
    admin.get_by_role("link", name="Execute").click()
    assert "1 artist" in admin.get_by_test_id("execute-summary").inner_text()
    assert "$150.00" in admin.get_by_test_id("execute-summary").inner_text()
    admin.get_by_role("button", name="Yes, execute the run").click()
    admin.get_by_text("1 paid, 0 failed").wait_for()

    # The artist sees the payout paid, its transfer id, and a balance of $0.00.
    artist.goto(f"{base}/money")
    payouts = artist.locator("#payouts")
    assert "paid" in payouts.inner_text().lower()
    assert re.search(r"tr_\w+", payouts.inner_text())
    assert artist.get_by_test_id("balance").inner_text() == "$0.00"

"""The foundation journey, clicked through in Chromium as the people would:

admin signs in → invites an email on the cohort page → the artist opens the link, sets a name and
password, accepts the terms → their dashboard says access is active → the admin pauses everyone
with a reason (with the confirmation step) → the artist reloads and sees the banner with it.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from access_program.accounts import service as accounts
from access_program.accounts.models import Role
from access_program.audit.service import Actor
from access_program.cohorts import service as cohorts
from access_program.cohorts.models import Invitation, Membership
from access_program.db import db as _db
from access_program.db import unit_of_work
from access_program.demo import CLAUSES, RATE_CARD, TERMS_BODY

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@journey.example"
ADMIN_PASSWORD = "journey-admin-pass"
ARTIST_EMAIL = "new.artist@journey.example"
ARTIST_NAME = "Noor Artist"
ARTIST_PASSWORD = "journey-artist-pass"
COHORT = "Journey Cohort"
PAUSE_REASON = "Safety review of the new model release; back within two days."


@pytest.fixture(scope="module")
def program(live_server):
    """Preconditions through the services: an admin and an open cohort with published terms."""
    with live_server.app.app_context(), unit_of_work():
        system = Actor.system("browser-test")
        admin = accounts.create_user(
            system,
            email=ADMIN_EMAIL,
            name="Journey Admin",
            role=Role.ADMIN,
            password=ADMIN_PASSWORD,
        )
        terms = cohorts.create_terms(
            admin.actor,
            label="Journey terms v1",
            body=TERMS_BODY,
            clauses=[{"code": c, "title": t, "text": x} for c, t, x in CLAUSES],
            rate_card=RATE_CARD,
        )
        cohorts.publish_terms(admin.actor, terms)
        cohort = cohorts.create_cohort(admin.actor, name=COHORT, capacity=10, terms_id=terms.id)
        cohorts.open_cohort(admin.actor, cohort)
    return live_server


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_invites_artist_joins_then_a_pause_shows_its_reason(program, new_page):
    base = program.url
    admin = new_page()

    # The admin signs in and lands on the cohorts list; opens the cohort.
    sign_in(admin, base, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin.wait_for_url(re.compile(r"/admin/cohorts$"))
    admin.get_by_role("link", name=COHORT).first.click()
    admin.get_by_role("heading", name=COHORT, level=1).wait_for()

    # Invites one email address.
    invite = admin.locator("form").filter(has=admin.get_by_role("button", name="Send invitation"))
    invite.get_by_label("Email").fill(ARTIST_EMAIL)
    invite.get_by_role("button", name="Send invitation").click()
    admin.get_by_text(f"Invitation sent to {ARTIST_EMAIL}").wait_for()
    link = admin.get_by_role("link").filter(has_text=f"{base}/invitations/")
    accept_url = link.get_attribute("href")
    assert accept_url and accept_url.startswith(f"{base}/invitations/")

    # The artist opens the link: the page shows the cohort and its terms.
    artist = new_page()
    artist.goto(accept_url)
    artist.get_by_role("heading", name=f"Join {COHORT}").wait_for()
    assert artist.get_by_text("No real people without consent").first.is_visible()
    artist.get_by_label("Your name").fill(ARTIST_NAME)
    artist.get_by_label("Password").fill(ARTIST_PASSWORD)
    artist.get_by_label("I have read and accept these terms").check()
    artist.get_by_role("button", name="Accept and join").click()

    # The dashboard says access is active.
    artist.wait_for_url(re.compile(r"/dashboard$"))
    artist.get_by_role("heading", name=f"Hello, {ARTIST_NAME}").wait_for()
    status = artist.locator("#access-title")
    assert "Access active" in status.inner_text()
    assert artist.get_by_role("alert").filter(has_text=PAUSE_REASON).count() == 0

    with program.app.app_context():
        invitation = _db.session.scalar(
            sa.select(Invitation).where(Invitation.email == ARTIST_EMAIL)
        )
        assert invitation.status == "accepted"
        assert (
            _db.session.scalar(
                sa.select(sa.func.count(Membership.id)).where(Membership.status == "active")
            )
            == 1
        )
        _db.session.remove()

    # The admin pauses everyone with a reason, through the confirmation step.
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Pauses").click()
    admin.get_by_role("heading", name="Pauses", level=1).wait_for()
    admin.get_by_label("Scope").select_option(label="Everyone (the whole program)")
    admin.get_by_label("Reason").fill(PAUSE_REASON)
    admin.get_by_role("button", name="Continue").click()
    admin.get_by_role("heading", name="Check the pause before you start it").wait_for()
    assert "1 artist" in admin.locator("main").inner_text()
    admin.get_by_role("button", name="Yes, pause access now").click()
    admin.get_by_text("Access paused").first.wait_for()

    # The artist reloads: the banner gives the reason, and the status says paused.
    artist.reload()
    banner = artist.get_by_role("alert").filter(has_text=PAUSE_REASON)
    banner.wait_for()
    assert "paused" in banner.inner_text().lower()
    assert "Access paused" in artist.locator("#access-title").inner_text()

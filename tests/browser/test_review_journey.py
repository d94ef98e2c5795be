"""The output-approval journey (issue 3), clicked through in Chromium by four people:

the artist submits a request → reviewer A claims it and proposes a rejection citing a clause →
reviewer B confirms the rejection → the artist appeals with a statement → reviewer C, who took no
part in the rejection, grants the appeal → the artist's page shows the request approved, with the
whole history and the cited clause's text.
"""

from __future__ import annotations

import re

import pytest

from access_program.accounts import service as accounts
from access_program.accounts.models import Role
from access_program.audit.service import Actor
from access_program.cohorts import service as cohorts
from access_program.db import unit_of_work
from access_program.demo import CLAUSES, RATE_CARD, TERMS_BODY

pytestmark = pytest.mark.browser

PASSWORD = "journey-review-pass"
ARTIST = ("artist@review.example", "Mira Artist")
REVIEWERS = {
    "a": ("alex@review.example", "Alex Reviewer"),
    "b": ("bea@review.example", "Bea Reviewer"),
    "c": ("cyd@review.example", "Cyd Reviewer"),
}
TITLE = "Harbour at dusk"
CLAUSE_CODE, CLAUSE_TITLE, CLAUSE_TEXT = CLAUSES[0]
REJECT_REASON = "The crowd shot shows a recognisable passer-by who has not consented."
CONFIRM_NOTE = "Agreed: the face at 0:12 is clearly identifiable."
STATEMENT = "The passer-by is my brother; his signed release is attached to the output."
GRANT_REASON = "The signed release settles it: clause P1 no longer applies."


@pytest.fixture(scope="module")
def program(live_server):
    """Preconditions through the services: three staff members, an open cohort with published
    terms, and the artist as an active member who accepted them."""
    with live_server.app.app_context(), unit_of_work():
        system = Actor.system("browser-test")
        admin = accounts.create_user(
            system,
            email="admin@review.example",
            name="Journey Admin",
            role=Role.ADMIN,
            password=PASSWORD,
        )
        for email, name in REVIEWERS.values():
            accounts.create_user(system, email=email, name=name, role=Role.STAFF, password=PASSWORD)
        terms = cohorts.create_terms(
            admin.actor,
            label="Review journey terms v1",
            body=TERMS_BODY,
            clauses=[{"code": c, "title": t, "text": x} for c, t, x in CLAUSES],
            rate_card=RATE_CARD,
        )
        cohorts.publish_terms(admin.actor, terms)
        cohort = cohorts.create_cohort(
            admin.actor, name="Review Journey Cohort", capacity=10, terms_id=terms.id
        )
        cohorts.open_cohort(admin.actor, cohort)
        _, token = cohorts.invite_artist(admin.actor, cohort, ARTIST[0])
        cohorts.accept_invitation(
            token, accept_terms=True, ip="127.0.0.1", name=ARTIST[1], password=PASSWORD
        )
    return live_server


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.endswith("/login"))


def reviewer(new_page, base: str, key: str, submission_url: str):
    page = new_page()
    sign_in(page, base, REVIEWERS[key][0])
    page.goto(submission_url)
    page.get_by_role("heading", name=TITLE, level=1).wait_for()
    return page


def flash(page, text: str) -> None:
    page.get_by_text(text).first.wait_for()


def test_rejection_confirmed_by_a_second_reviewer_then_granted_on_appeal(program, new_page):
    base = program.url

    # The artist submits a request to share an output.
    artist = new_page()
    sign_in(artist, base, ARTIST[0])
    artist.goto(f"{base}/requests/new")
    artist.get_by_label("Title").fill(TITLE)
    artist.get_by_label("Output reference").fill("https://tool.example.org/outputs/40001")
    artist.get_by_label("Intended use").select_option(label="Festival")
    artist.get_by_label("Venue or channel").fill("IFFR Rotterdam, Short Film Competition")
    artist.get_by_role("button", name="Submit the request").click()
    artist.wait_for_url(re.compile(r"/requests/\d+$"))
    flash(artist, f"Request “{TITLE}” submitted.")
    submission_id = int(artist.url.rsplit("/", 1)[1])
    assert "submitted" in artist.locator("#status-title").inner_text()
    staff_url = f"{base}/staff/requests/{submission_id}"

    # Reviewer A claims it and proposes a rejection citing P1 with a reason.
    alex = reviewer(new_page, base, "a", staff_url)
    alex.get_by_role("button", name="Claim it to review").click()
    flash(alex, f"You are reviewing “{TITLE}”.")
    alex.get_by_label("Reject").check()
    alex.get_by_label("Reason").fill(REJECT_REASON)
    alex.get_by_label(f"{CLAUSE_CODE} {CLAUSE_TITLE}").check()
    alex.get_by_role("button", name="Record the decision").click()
    flash(alex, "Rejection proposed. A second staff member must confirm it")
    assert "You proposed this rejection" in alex.locator("main").inner_text()
    assert alex.get_by_role("button", name="Confirm the rejection").count() == 0

    # Reviewer B sees the proposal with the clause's text and confirms it.
    bea = reviewer(new_page, base, "b", staff_url)
    proposal = bea.locator("section", has=bea.get_by_role("heading", name="A rejection waits"))
    assert REJECT_REASON in proposal.inner_text()
    assert CLAUSE_TEXT in proposal.inner_text()
    bea.get_by_label("Note (optional)").fill(CONFIRM_NOTE)
    bea.get_by_role("button", name="Confirm the rejection").click()
    flash(bea, f"Rejection of “{TITLE}” confirmed.")
    assert "rejected" in bea.locator("#status-title").inner_text()

    # The artist sees the rejection with its reason and clause, and appeals.
    artist.reload()
    assert "rejected" in artist.locator("#status-title").inner_text()
    panel = artist.locator("section.status-panel")
    assert REJECT_REASON in panel.inner_text() and CLAUSE_TEXT in panel.inner_text()
    artist.get_by_label("Your statement").fill(STATEMENT)
    artist.get_by_role("button", name="Send the appeal").click()
    flash(artist, "Appeal sent.")
    assert "appealed" in artist.locator("#status-title").inner_text()

    # Reviewer A took part in the rejection: the page says so and offers no appeal decision.
    alex.reload()
    assert "you may not decide the appeal" in alex.locator("main").inner_text()
    assert alex.get_by_role("button", name="Record the appeal decision").count() == 0

    # Reviewer C, who took no part, grants the appeal.
    cyd = reviewer(new_page, base, "c", staff_url)
    assert STATEMENT in cyd.locator("main").inner_text()
    cyd.get_by_label("Grant the appeal").check()
    cyd.get_by_label("Reason").fill(GRANT_REASON)
    cyd.get_by_role("button", name="Record the appeal decision").click()
    flash(cyd, f"Appeal granted: “{TITLE}” is approved.")

    # The artist's page: approved on appeal, and the whole history with the cited clause.
    artist.reload()
    assert artist.locator("#status-title").inner_text().strip().endswith("appeal granted")
    panel = artist.locator("section.status-panel").inner_text()
    assert "Approved. You may share this output for: Festival." in panel
    assert "Your appeal was granted" in panel and GRANT_REASON in panel
    history = artist.locator("ol.timeline > li")
    steps = [item.locator(".timeline__what").inner_text() for item in history.all()]
    assert steps == [
        "Submitted",
        "Claimed for review",
        "Rejection proposed (waits for a second reviewer)",
        "Decided: rejected",
        "Appealed",
        "Appeal granted",
    ]
    # Who did what, by name.
    who = [item.locator(".timeline__who").inner_text() for item in history.all()]
    assert who == [
        f"by {ARTIST[1]}",
        f"by {REVIEWERS['a'][1]}",
        f"by {REVIEWERS['a'][1]}",
        f"by {REVIEWERS['b'][1]}",
        f"by {ARTIST[1]}",
        f"by {REVIEWERS['c'][1]}",
    ]
    proposed, decided = history.nth(2).inner_text(), history.nth(3).inner_text()
    for text in (proposed, decided):
        assert REJECT_REASON in text and CLAUSE_TITLE in text and CLAUSE_TEXT in text
    assert STATEMENT in history.nth(4).inner_text()
    assert GRANT_REASON in history.nth(5).inner_text()

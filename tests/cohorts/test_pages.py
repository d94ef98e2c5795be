"""Pages: cohorts, invitations (single and CSV), terms, the invitation link, an artist's terms."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from access_program.accounts.models import User
from access_program.cohorts.models import Cohort, Invitation, Membership, Terms
from access_program.db import db as _db
from access_program.outbox.models import OutboxMessage
from tests.factories import (
    PASSWORD,
    CohortFactory,
    GrantFactory,
    InvitationFactory,
    MembershipFactory,
    TermsFactory,
    UserFactory,
)
from tests.helpers import audit_count

pytestmark = pytest.mark.usefixtures("fresh_user_per_request")


def signed_in(pages, user: User):
    """Commit the preconditions first: a refused request rolls the session back to here."""
    _db.session.commit()
    return pages.login(user)


@pytest.fixture
def admin(db):
    return UserFactory(admin=True, name="Ada Admin")


def user_for(role: str) -> User:
    if role == "artist":
        return MembershipFactory().user
    return UserFactory(**{role: True})


COHORT_FORM = {
    "name": "Autumn 2027",
    "description": "Fifty artists for the autumn release.",
    "capacity": "50",
    "review_hours": "48",
    "on_deadline": "deemed_approved",
    "auto_grant": "y",
    "terms_id": "0",
}


# --- who may see what ----------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/cohorts",
    "/admin/cohorts/{cohort}",
    "/admin/cohorts/{cohort}?status=pending&page=1",
    "/admin/cohorts/{cohort}/close",
    "/admin/terms",
    "/admin/terms/new",
    "/admin/terms/new?from={terms}",
    "/admin/terms/{terms}",
    "/admin/terms/{draft}",
    "/admin/terms/{draft}/edit",
]


def _fill(path: str, cohort: Cohort, draft: Terms) -> str:
    return path.format(cohort=cohort.id, terms=cohort.terms_id, draft=draft.id)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_render_for_admins(db, pages, admin, path):
    cohort, draft = CohortFactory(), TermsFactory(draft=True)
    InvitationFactory(cohort=cohort)
    signed_in(pages, admin)
    response = pages.get(_fill(path, cohort, draft))
    assert response.status_code == 200
    assert "<h1>" in response.text


@pytest.mark.parametrize("role", ["artist", "staff"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_refuse_other_roles(db, pages, role, path):
    cohort, draft = CohortFactory(), TermsFactory(draft=True)
    signed_in(pages, user_for(role))
    assert pages.get(_fill(path, cohort, draft)).status_code == 403


@pytest.mark.parametrize("path", [*ADMIN_PAGES, "/terms", "/terms/{terms}"])
def test_pages_send_signed_out_visitors_to_sign_in(db, client, path):
    cohort, draft = CohortFactory(), TermsFactory(draft=True)
    _db.session.commit()
    response = client.get(_fill(path, cohort, draft))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_unknown_cohort_is_404(db, pages, admin):
    signed_in(pages, admin)
    assert pages.get("/admin/cohorts/999999").status_code == 404


# --- cohorts -------------------------------------------------------------------------------


def test_cohort_list_shows_seats(db, pages, admin):
    cohort = CohortFactory(name="Spring", capacity=10)
    MembershipFactory(cohort=cohort)
    InvitationFactory(cohort=cohort)
    signed_in(pages, admin)
    html = pages.get("/admin/cohorts").text
    assert "Spring" in html
    assert "2 of 10" in html


def test_empty_cohort_list_says_what_to_do(db, pages, admin):
    signed_in(pages, admin)
    assert "No cohorts yet. Create the first one below" in pages.get("/admin/cohorts").text


def test_admin_creates_a_cohort(db, pages, admin):
    signed_in(pages, admin)
    response = pages.post("/admin/cohorts", COHORT_FORM)
    cohort = db.session.scalar(sa.select(Cohort).where(Cohort.name == "Autumn 2027"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/cohorts/{cohort.id}"
    assert (cohort.capacity, cohort.review_hours, cohort.status) == (50, 48, "draft")
    page = pages.get(response.headers["Location"])
    assert "Cohort Autumn 2027 created as a draft." in page.text
    assert "0 of 50 seats taken" in page.text
    assert audit_count("cohort.created") == 1


def test_a_bad_cohort_is_shown_again_with_its_values(db, pages, admin):
    signed_in(pages, admin)
    response = pages.post("/admin/cohorts", {**COHORT_FORM, "capacity": "0"})
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert 'value="Autumn 2027"' in response.text
    assert "Fifty artists for the autumn release." in response.text
    assert 'href="#capacity"' in response.text
    assert audit_count("cohort.created") == 0


def test_a_taken_cohort_name_is_refused_next_to_the_name(db, pages, admin):
    CohortFactory(name="Autumn 2027")
    signed_in(pages, admin)
    response = pages.post("/admin/cohorts", COHORT_FORM)
    assert response.status_code == 409
    assert "A cohort named &#39;Autumn 2027&#39; already exists" in response.text


def test_cohort_page_shows_counts_and_actions(db, pages, admin):
    cohort = CohortFactory(capacity=5)
    MembershipFactory(cohort=cohort)
    InvitationFactory(cohort=cohort, email="waiting@example.org")
    InvitationFactory(cohort=cohort, withdrawn=True, email="gone@example.org")
    signed_in(pages, admin)
    html = pages.get(f"/admin/cohorts/{cohort.id}").text
    assert "2 of 5 seats taken" in html
    assert "(members + pending invitations)" in html
    assert f'action="/admin/cohorts/{cohort.id}/invitations"' in html
    assert 'enctype="multipart/form-data"' in html
    assert f"/admin/cohorts/{cohort.id}/revoke-all" in html
    assert f"/admin/cohorts/{cohort.id}/close" in html
    assert f"/staff/artists?cohort_id={cohort.id}" in html
    assert "waiting@example.org" in html and "gone@example.org" in html
    assert html.count(">Withdraw<") == 1


def test_invitations_filter_by_status(db, pages, admin):
    cohort = CohortFactory()
    InvitationFactory(cohort=cohort, email="waiting@example.org")
    InvitationFactory(cohort=cohort, withdrawn=True, email="gone@example.org")
    signed_in(pages, admin)
    html = pages.get(f"/admin/cohorts/{cohort.id}?status=withdrawn").text
    assert "gone@example.org" in html
    assert "waiting@example.org" not in html


def test_invitations_are_paginated(db, pages, admin):
    cohort = CohortFactory()
    for n in range(26):
        InvitationFactory(cohort=cohort, email=f"p{n:02d}@example.org")
    signed_in(pages, admin)
    first = pages.get(f"/admin/cohorts/{cohort.id}").text
    assert "Page 1 of 2" in first
    assert f'href="/admin/cohorts/{cohort.id}?page=2"' in first
    assert "Page 2 of 2" in pages.get(f"/admin/cohorts/{cohort.id}?page=2").text


def test_draft_cohort_page_explains_how_to_invite(db, pages, admin):
    cohort = CohortFactory(draft=True)
    signed_in(pages, admin)
    html = pages.get(f"/admin/cohorts/{cohort.id}").text
    assert "Invitations can be sent only while the cohort is open" in html
    assert "Open the cohort" in html


def test_admin_saves_settings(db, pages, admin):
    cohort = CohortFactory(name="Old name")
    signed_in(pages, admin)
    response = pages.post(
        f"/admin/cohorts/{cohort.id}/settings",
        {**COHORT_FORM, "name": "New name", "terms_id": str(cohort.terms_id)},
    )
    assert response.status_code == 302
    assert "Cohort settings saved." in pages.get(response.headers["Location"]).text
    assert db.session.get(Cohort, cohort.id).name == "New name"


def test_bad_settings_are_shown_again_with_their_values(db, pages, admin):
    cohort = CohortFactory(name="Old name")
    signed_in(pages, admin)
    response = pages.post(
        f"/admin/cohorts/{cohort.id}/settings",
        {**COHORT_FORM, "name": "Renamed", "review_hours": "0"},
    )
    assert response.status_code == 422
    assert 'value="Renamed"' in response.text
    assert 'href="#review_hours"' in response.text
    assert db.session.get(Cohort, cohort.id).name == "Old name"


def test_admin_opens_a_draft_cohort(db, pages, admin):
    cohort = CohortFactory(draft=True)
    signed_in(pages, admin)
    response = pages.post(f"/admin/cohorts/{cohort.id}/open")
    assert response.status_code == 302
    assert "is open: you can send invitations." in pages.get(response.headers["Location"]).text
    assert db.session.get(Cohort, cohort.id).status == "open"


def test_a_cohort_without_terms_cannot_open_and_the_page_says_why(db, pages, admin):
    cohort = CohortFactory(draft=True, terms=None)
    signed_in(pages, admin)
    response = pages.post(f"/admin/cohorts/{cohort.id}/open")
    assert response.status_code == 409
    assert "Set published terms on the cohort before opening it." in response.text
    assert audit_count("cohort.opened") == 0


def test_closing_asks_first_and_says_how_many_are_affected(db, pages, admin):
    cohort = CohortFactory(name="Winter")
    MembershipFactory(cohort=cohort)
    MembershipFactory(cohort=cohort)
    InvitationFactory(cohort=cohort)
    signed_in(pages, admin)
    confirm = pages.get(f"/admin/cohorts/{cohort.id}/close")
    assert "Close Winter?" in confirm.text
    assert "<strong>2 members</strong>" in confirm.text
    assert "<strong>1 pending invitation</strong>" in confirm.text
    assert db.session.get(Cohort, cohort.id).status == "open"  # nothing changes on GET
    response = pages.post(f"/admin/cohorts/{cohort.id}/close")
    assert response.status_code == 302
    assert "Winter is closed." in pages.get(response.headers["Location"]).text
    assert db.session.get(Cohort, cohort.id).status == "closed"
    assert audit_count("cohort.closed") == 1


# --- invitations ---------------------------------------------------------------------------


def test_admin_invites_one_email(db, pages, admin):
    cohort = CohortFactory()
    signed_in(pages, admin)
    response = pages.post(
        f"/admin/cohorts/{cohort.id}/invitations", {"email": "New.Artist@Example.org"}
    )
    assert response.status_code == 200
    assert "Invitation sent to new.artist@example.org." in response.text
    assert "1 of 1 invitation sent" in response.text
    assert "/invitations/" in response.text  # the link, shown once
    assert audit_count("invitation.sent") == 1
    assert db.session.scalar(
        sa.select(OutboxMessage).where(OutboxMessage.to_email == "new.artist@example.org")
    )


def test_a_bad_email_is_shown_again_with_its_value(db, pages, admin):
    cohort = CohortFactory()
    signed_in(pages, admin)
    response = pages.post(f"/admin/cohorts/{cohort.id}/invitations", {"email": "not-an-email"})
    assert response.status_code == 422
    assert 'value="not-an-email"' in response.text
    assert "There is a problem" in response.text
    assert audit_count("invitation.sent") == 0


def test_a_duplicate_invitation_is_refused_next_to_the_email(db, pages, admin):
    cohort = CohortFactory()
    InvitationFactory(cohort=cohort, email="twice@example.org")
    signed_in(pages, admin)
    response = pages.post(f"/admin/cohorts/{cohort.id}/invitations", {"email": "twice@example.org"})
    assert response.status_code == 409
    assert "twice@example.org already has a pending invitation" in response.text
    assert 'value="twice@example.org"' in response.text


def test_a_full_cohort_says_so(db, pages, admin):
    cohort = CohortFactory(capacity=1)
    InvitationFactory(cohort=cohort)
    signed_in(pages, admin)
    response = pages.post(f"/admin/cohorts/{cohort.id}/invitations", {"email": "x@example.org"})
    assert response.status_code == 409
    assert "cohort full: 1 of 1" in response.text


def test_inviting_without_the_csrf_token_is_refused(db, client, pages, admin):
    cohort = CohortFactory()
    signed_in(pages, admin)
    response = client.post(f"/admin/cohorts/{cohort.id}/invitations", data={"email": "a@b.org"})
    assert response.status_code == 400
    assert audit_count("invitation.sent") == 0


def upload(pages, cohort: Cohort, text: str, filename: str = "artists.csv"):
    return pages.post(
        f"/admin/cohorts/{cohort.id}/invitations/csv",
        {"csv_file": (io.BytesIO(text.encode()), filename)},
        content_type="multipart/form-data",
    )


def test_csv_upload_gives_a_result_per_row(db, pages, admin):
    cohort = CohortFactory()
    InvitationFactory(cohort=cohort, email="already@example.org")
    signed_in(pages, admin)
    response = upload(
        pages, cohort, "email\nfirst@example.org\nalready@example.org\nnot an email\n\n"
    )
    assert response.status_code == 200
    html = response.text
    assert "1 of 3 invitations sent" in html
    assert "first@example.org" in html
    assert "not sent: duplicate invitation" in html
    assert "not sent: invalid" in html
    assert html.count("<tr>") == 1 + 3  # header and one row each
    assert audit_count("invitation.sent") == 1


def test_csv_upload_of_an_empty_file_says_so(db, pages, admin):
    cohort = CohortFactory()
    signed_in(pages, admin)
    response = upload(pages, cohort, "email\n")
    assert response.status_code == 422
    assert "The file has no email addresses." in response.text


def test_csv_upload_refuses_other_files(db, pages, admin):
    cohort = CohortFactory()
    signed_in(pages, admin)
    response = upload(pages, cohort, "a@example.org", filename="artists.exe")
    assert response.status_code == 422
    assert "Upload a .csv file." in response.text


def test_admin_withdraws_a_pending_invitation(db, pages, admin):
    invitation = InvitationFactory(email="later@example.org")
    signed_in(pages, admin)
    response = pages.post(f"/admin/invitations/{invitation.id}/withdraw")
    assert response.status_code == 302
    page = pages.get(response.headers["Location"])
    assert "Invitation to later@example.org withdrawn." in page.text
    assert db.session.get(Invitation, invitation.id).status == "withdrawn"


def test_withdrawing_twice_says_why_not(db, pages, admin):
    invitation = InvitationFactory(withdrawn=True)
    signed_in(pages, admin)
    response = pages.post(f"/admin/invitations/{invitation.id}/withdraw")
    assert response.status_code == 409
    assert "only pending invitations can be withdrawn" in response.text


# --- terms ---------------------------------------------------------------------------------

TERMS_FORM = {
    "label": "v9 — test",
    "body": "# Terms\n\nBe *kind*.",
    "clauses": "P1 | Real people | No real people.\nP2 | Secrets | No secrets.",
    "currency": "usd",
    "feedback_hour": "5000",
    "bug_low": "100",
    "bug_medium": "200",
    "bug_high": "300",
    "bug_critical": "400",
    "red_team_low": "500",
    "red_team_medium": "600",
    "red_team_high": "700",
    "red_team_critical": "800",
    "approved_output": "0",
    "marketing_use": "50000",
    "monthly_stipend": "30000",
    "minimum_payout": "2500",
}


def test_admin_drafts_and_publishes_terms(db, pages, admin):
    signed_in(pages, admin)
    response = pages.post("/admin/terms/new", TERMS_FORM)
    terms = db.session.scalar(sa.select(Terms).where(Terms.label == "v9 — test"))
    assert response.status_code == 302
    detail = pages.get(response.headers["Location"])
    assert "Draft v9 — test saved. Publish it when it is final." in detail.text
    assert "<em>kind</em>" in detail.text
    assert "$50.00" in detail.text and "$500.00" in detail.text
    assert [c.code for c in terms.clauses] == ["P1", "P2"]
    published = pages.post(f"/admin/terms/{terms.id}/publish")
    assert published.status_code == 302
    assert "is published and can no longer change" in pages.get(published.headers["Location"]).text
    assert db.session.get(Terms, terms.id).is_published


def test_a_bad_clause_line_is_shown_next_to_the_clauses(db, pages, admin):
    signed_in(pages, admin)
    response = pages.post("/admin/terms/new", {**TERMS_FORM, "clauses": "P1 | only a title"})
    assert response.status_code == 422
    assert "Line 1: write CODE | Title | Text." in response.text
    assert "Be *kind*." in response.text  # the body is kept
    assert db.session.scalar(sa.select(Terms).where(Terms.label == "v9 — test")) is None


def test_duplicate_clause_codes_leave_no_half_written_terms(db, pages, admin):
    signed_in(pages, admin)
    response = pages.post("/admin/terms/new", {**TERMS_FORM, "clauses": "P1 | A | a\nP1 | B | b"})
    assert response.status_code == 422
    assert "Duplicate clause code: P1" in response.text
    assert db.session.scalar(sa.select(Terms).where(Terms.label == "v9 — test")) is None


def test_admin_edits_a_draft_but_not_its_label(db, pages, admin):
    draft = TermsFactory(draft=True, label="v8 draft")
    signed_in(pages, admin)
    response = pages.post(
        f"/admin/terms/{draft.id}/edit", {**TERMS_FORM, "label": "sneaky", "body": "New body"}
    )
    assert response.status_code == 302
    terms = db.session.get(Terms, draft.id)
    assert (terms.label, terms.body) == ("v8 draft", "New body")


def test_published_terms_cannot_be_edited(db, pages, admin):
    terms = TermsFactory()
    signed_in(pages, admin)
    response = pages.get(f"/admin/terms/{terms.id}/edit")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/terms/new?from={terms.id}"


def test_terms_without_clauses_cannot_be_published(db, pages, admin):
    draft = TermsFactory(draft=True, clauses=[])
    draft.clauses.clear()
    signed_in(pages, admin)
    response = pages.post(f"/admin/terms/{draft.id}/publish")
    assert response.status_code == 422
    assert "Add at least one clause to the content policy." in response.text
    assert not db.session.get(Terms, draft.id).is_published


# --- the invitation link -------------------------------------------------------------------


def test_invitation_page_shows_the_cohort_and_its_full_terms(db, client):
    terms = TermsFactory(
        body="# Our terms\n\nYou keep your **rights**.",
        clauses=[("P7", "No deepfakes", "Never impersonate a person.")],
    )
    cohort = CohortFactory(name="Spring", description="Three hundred artists.", terms=terms)
    invitation = InvitationFactory(cohort=cohort)
    _db.session.commit()
    html = client.get(f"/invitations/{invitation.token}").text
    assert "Join Spring" in html
    assert "Three hundred artists." in html
    assert "<strong>rights</strong>" in html
    assert "P7" in html and "No deepfakes" in html and "Never impersonate a person." in html
    assert '<td class="num">$400.00</td>' in html  # bug report, critical
    assert 'name="name"' in html and 'name="password"' in html
    assert "Accept and join" in html
    assert f'action="/invitations/{invitation.token}/decline"' in html


def test_accepting_as_a_new_artist_joins_and_signs_in(db, client, pages):
    invitation = InvitationFactory(email="newcomer@example.org")
    _db.session.commit()
    response = pages.post(
        f"/invitations/{invitation.token}",
        {"name": "New Comer", "password": "a long password", "accept_terms": "y"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    dashboard = pages.get("/dashboard")
    assert "Access active" in dashboard.text
    assert f"Welcome to {invitation.cohort.name}." in dashboard.text
    user = db.session.scalar(sa.select(User).where(User.email == "newcomer@example.org"))
    membership = db.session.scalar(sa.select(Membership).where(Membership.user_id == user.id))
    assert membership.status == "active"
    assert membership.accepted_terms_id == invitation.cohort.terms_id
    assert db.session.get(Invitation, invitation.id).status == "accepted"


def test_accepting_needs_the_box_ticked_and_keeps_the_name(db, pages):
    invitation = InvitationFactory()
    _db.session.commit()
    response = pages.post(
        f"/invitations/{invitation.token}", {"name": "New Comer", "password": "a long password"}
    )
    assert response.status_code == 422
    assert "Accept the terms to join." in response.text
    assert 'value="New Comer"' in response.text
    assert db.session.get(Invitation, invitation.id).status == "pending"


def test_a_short_password_leaves_no_account_behind(db, pages):
    invitation = InvitationFactory(email="short@example.org")
    _db.session.commit()
    response = pages.post(
        f"/invitations/{invitation.token}",
        {"name": "Short", "password": "short", "accept_terms": "y"},
    )
    assert response.status_code == 422
    assert "Use at least 10 characters." in response.text
    assert db.session.scalar(sa.select(User).where(User.email == "short@example.org")) is None


def test_an_existing_account_enters_its_password(db, pages):
    artist = MembershipFactory(ended=True).user
    invitation = InvitationFactory(email=artist.email)
    _db.session.commit()
    page = pages.get(f"/invitations/{invitation.token}")
    assert "You already have an account: enter its password." in page.text
    assert 'name="name"' not in page.text
    wrong = pages.post(
        f"/invitations/{invitation.token}", {"password": "wrong password", "accept_terms": "y"}
    )
    assert wrong.status_code == 422
    right = pages.post(
        f"/invitations/{invitation.token}", {"password": PASSWORD, "accept_terms": "y"}
    )
    assert right.status_code == 302
    assert "Access active" in pages.get("/dashboard").text


def test_the_invitee_signed_in_needs_no_password(db, pages):
    artist = MembershipFactory(ended=True).user
    invitation = InvitationFactory(email=artist.email)
    signed_in(pages, artist)
    page = pages.get(f"/invitations/{invitation.token}")
    assert 'name="password"' not in page.text
    response = pages.post(f"/invitations/{invitation.token}", {"accept_terms": "y"})
    assert response.status_code == 302
    assert db.session.get(Invitation, invitation.id).status == "accepted"


@pytest.mark.parametrize(
    ("trait", "message"),
    [
        ({"expired": True}, "This invitation expired on"),
        ({"withdrawn": True}, "This invitation was withdrawn by the program team."),
        ({"accepted": True}, "This invitation has already been used."),
    ],
)
def test_a_dead_link_gets_a_410_page_that_says_why(db, client, trait, message):
    invitation = InvitationFactory(**trait)
    _db.session.commit()
    response = client.get(f"/invitations/{invitation.token}")
    assert response.status_code == 410
    assert message in response.text
    assert "This link no longer works" in response.text


def test_an_unknown_link_is_404(db, client):
    response = client.get("/invitations/not-a-real-token")
    assert response.status_code == 404
    assert "This invitation link is not valid." in response.text


def test_declining_an_invitation(db, pages):
    invitation = InvitationFactory()
    _db.session.commit()
    response = pages.post(f"/invitations/{invitation.token}/decline")
    assert response.status_code == 302
    assert "You declined the invitation to" in pages.get("/login").text
    assert db.session.get(Invitation, invitation.id).status == "declined"
    assert pages.get(f"/invitations/{invitation.token}").status_code == 410


# --- an artist's terms ---------------------------------------------------------------------


def test_artist_reads_their_accepted_terms(db, pages):
    membership = MembershipFactory()
    signed_in(pages, membership.user)
    html = pages.get("/terms").text
    assert "You accepted the current terms." in html
    assert membership.cohort.terms.label in html
    assert "Accept the new terms" not in html
    version = pages.get(f"/terms/{membership.cohort.terms_id}")
    assert version.status_code == 200
    assert "Be kind to the tool." in version.text


def test_artist_without_a_cohort_is_told_how_to_join(db, pages):
    signed_in(pages, UserFactory())
    assert "Open the invitation link in your email to join." in pages.get("/terms").text


def test_draft_terms_are_not_readable_by_artists(db, pages):
    draft = TermsFactory(draft=True)
    signed_in(pages, MembershipFactory().user)
    assert pages.get(f"/terms/{draft.id}").status_code == 404


def test_new_terms_show_the_diff_and_the_artist_accepts(db, pages):
    old = TermsFactory(
        body="# Terms\n\nKeep it kind.\nCredit the tool.",
        clauses=[("P1", "Real people", "No real people."), ("P2", "Secrets", "No secrets.")],
    )
    membership = MembershipFactory(cohort=CohortFactory(terms=old))
    GrantFactory(membership=membership)
    new = TermsFactory(
        body="# Terms\n\nKeep it kind.\nCredit the tool in every post.",
        clauses=[("P1", "Real people", "No real people, ever."), ("P3", "Weapons", "No weapons.")],
    )
    new.rate_card.bug_critical = 60000
    membership.cohort.terms = new
    signed_in(pages, membership.user)

    dashboard = pages.get("/dashboard").text
    assert "No access" in dashboard
    assert "Accept the new terms to restore access" in dashboard

    html = pages.get("/terms").text
    assert "New terms: accept them to restore access" in html
    assert "Removed: </span>-Credit the tool." in html
    assert "Added: </span>+Credit the tool in every post." in html
    assert 'added</strong> <span class="clauses__code">P3</span>' in html
    assert 'removed</strong> <span class="clauses__code">P2</span>' in html
    assert "No real people, ever." in html
    assert "Bug report, critical" in html
    assert "$400.00" in html and "$600.00" in html

    refused = pages.post("/terms/accept", {})
    assert refused.status_code == 422
    assert "Tick the box to accept." in refused.text

    response = pages.post("/terms/accept", {"accept_terms": "y"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    dashboard = pages.get("/dashboard").text
    assert f"You accepted {new.label}." in dashboard
    assert "Access active" in dashboard
    assert db.session.get(Membership, membership.id).accepted_terms_id == new.id
    history = pages.get("/terms").text
    assert history.count(f'href="/terms/{new.id}"') == 1
    assert history.count(f'href="/terms/{old.id}"') == 1

"""Pages: the artist dashboard, artists and their grants, revocations and pauses."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.access.models import Grant, Pause
from access_program.accounts.models import User
from access_program.db import db as _db
from access_program.db import utcnow
from access_program.outbox.models import OutboxMessage
from tests.factories import (
    CohortFactory,
    GrantFactory,
    MembershipFactory,
    PauseFactory,
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


@pytest.fixture
def member(db):
    """An artist with an active membership, accepted terms and a current grant."""
    grant = GrantFactory()
    return grant.membership


def user_for(role: str) -> User:
    if role == "artist":
        return MembershipFactory().user
    return UserFactory(**{role: True})


# --- who may see what ----------------------------------------------------------------------

STAFF_PAGES = ["/staff/artists", "/staff/artists?q=a&cohort_id={cohort}", "/staff/artists/{artist}"]
ADMIN_PAGES = [
    "/admin/pauses",
    "/admin/grants/{grant}/revoke",
    "/admin/cohorts/{cohort}/revoke-all",
]


def _fill(path: str, membership) -> str:
    grant = _db.session.scalar(sa.select(Grant).where(Grant.membership_id == membership.id))
    return path.format(cohort=membership.cohort_id, artist=membership.user_id, grant=grant.id)


@pytest.mark.parametrize("role", ["staff", "admin"])
@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_render_for_staff_and_admins(db, pages, member, role, path):
    signed_in(pages, user_for(role))
    response = pages.get(_fill(path, member))
    assert response.status_code == 200
    assert "<h1>" in response.text


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_render_for_admins(db, pages, member, admin, path):
    signed_in(pages, admin)
    assert pages.get(_fill(path, member)).status_code == 200


@pytest.mark.parametrize(
    ("role", "path"),
    [("artist", p) for p in STAFF_PAGES + ADMIN_PAGES] + [("staff", p) for p in ADMIN_PAGES],
)
def test_pages_refuse_roles_that_may_not(db, pages, member, role, path):
    signed_in(pages, user_for(role))
    assert pages.get(_fill(path, member)).status_code == 403


@pytest.mark.parametrize("path", ["/dashboard", *STAFF_PAGES, *ADMIN_PAGES])
def test_signed_out_visitors_are_sent_to_sign_in(db, client, member, path):
    _db.session.commit()
    response = client.get(_fill(path, member))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_the_dashboard_is_for_artists(db, pages, role):
    signed_in(pages, user_for(role))
    assert pages.get("/dashboard").status_code == 403


def test_unknown_artist_is_404(db, pages, admin):
    signed_in(pages, admin)
    assert pages.get("/staff/artists/999999").status_code == 404
    assert pages.get(f"/staff/artists/{admin.id}").status_code == 404  # not an artist


# --- the artist's dashboard ----------------------------------------------------------------


def test_dashboard_of_an_artist_with_access(db, pages, member):
    signed_in(pages, member.user)
    html = pages.get("/dashboard").text
    assert "Access active" in html
    assert member.cohort.name in html
    assert member.cohort.terms.label in html
    assert 'href="/terms"' in html
    assert "Accept the new terms" not in html
    assert "by the system, on joining" in html  # the grant in the history


def test_dashboard_without_a_grant_says_why(db, pages):
    membership = MembershipFactory()
    signed_in(pages, membership.user)
    html = pages.get("/dashboard").text
    assert "No access" in html
    assert "The artist has no access grant." in html


def test_dashboard_of_an_artist_not_in_a_cohort(db, pages):
    signed_in(pages, UserFactory())
    html = pages.get("/dashboard").text
    assert "No access" in html
    assert "You are not in a cohort yet." in html


def test_dashboard_shows_an_expired_grant(db, pages):
    grant = GrantFactory(expired=True)
    signed_in(pages, grant.user)
    html = pages.get("/dashboard").text
    assert "No access" in html
    assert '<strong class="tag tag--expired">expired</strong>' in html


# --- artists, grants, revocations ----------------------------------------------------------


def test_artists_list_shows_access_and_filters(db, pages, admin):
    first = GrantFactory(membership=MembershipFactory(user=UserFactory(name="Zoe Zebra")))
    MembershipFactory(user=UserFactory(name="Yann Yak"))
    signed_in(pages, admin)
    html = pages.get("/staff/artists").text
    assert "Zoe Zebra" in html and "Yann Yak" in html
    filtered = pages.get("/staff/artists?q=zebra").text
    assert "Zoe Zebra" in filtered and "Yann Yak" not in filtered
    by_cohort = pages.get(f"/staff/artists?cohort_id={first.membership.cohort_id}").text
    assert "Zoe Zebra" in by_cohort and "Yann Yak" not in by_cohort
    nobody = pages.get("/staff/artists?q=nobody-at-all").text
    assert "No artist matches." in nobody


def test_staff_read_an_artist_but_cannot_change_anything(db, pages, member):
    signed_in(pages, UserFactory(staff=True))
    html = pages.get(f"/staff/artists/{member.user_id}").text
    assert "Access active" in html
    assert member.cohort.name in html
    assert "/revoke" not in html
    assert "Grant tool access" not in html
    assert "external-id" not in html


def test_admin_sees_revoke_links_and_no_grant_form_while_access_is_current(
    db, pages, admin, member
):
    grant = _db.session.scalar(sa.select(Grant).where(Grant.membership_id == member.id))
    signed_in(pages, admin)
    html = pages.get(f"/staff/artists/{member.user_id}").text
    assert f'href="/admin/grants/{grant.id}/revoke"' in html
    assert "Grant tool access" not in html
    assert f'action="/admin/artists/{member.user_id}/external-id"' in html


def test_revoking_asks_for_a_reason_then_the_artist_reads_it(db, app, pages, admin, member):
    grant = _db.session.scalar(sa.select(Grant).where(Grant.membership_id == member.id))
    artist = member.user
    signed_in(pages, admin)
    confirm = pages.get(f"/admin/grants/{grant.id}/revoke")
    assert f"one artist, {artist.name}" in confirm.text
    assert grant.revoked_at is None

    missing = pages.post(f"/admin/grants/{grant.id}/revoke", {"category": "misconduct"})
    assert missing.status_code == 422
    assert "There is a problem" in missing.text
    assert '<option selected value="misconduct">' in missing.text  # the choice is kept
    assert audit_count("grant.revoked") == 0

    response = pages.post(
        f"/admin/grants/{grant.id}/revoke",
        {"category": "misconduct", "reason": "Posted confidential features on 3 January."},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/artists/{artist.id}"
    assert f"Access of {artist.name} revoked." in pages.get(response.headers["Location"]).text
    assert audit_count("grant.revoked") == 1

    artist_browser = app.test_client()
    with artist_browser.session_transaction() as session:
        session["_user_id"] = artist.get_id()
    dashboard = artist_browser.get("/dashboard").text
    assert "No access" in dashboard
    assert "Misconduct" in dashboard
    assert "Posted confidential features on 3 January." in dashboard


def test_a_revoked_grant_is_not_revoked_twice(db, pages, admin):
    grant = GrantFactory(revoked=True)
    signed_in(pages, admin)
    response = pages.get(f"/admin/grants/{grant.id}/revoke")
    assert response.status_code == 302
    assert "is already revoked" in pages.get(response.headers["Location"]).text


def test_revoking_without_the_csrf_token_is_refused(db, client, pages, admin, member):
    grant = _db.session.scalar(sa.select(Grant).where(Grant.membership_id == member.id))
    signed_in(pages, admin)
    response = client.post(
        f"/admin/grants/{grant.id}/revoke", data={"category": "other", "reason": "No token."}
    )
    assert response.status_code == 400
    assert audit_count("grant.revoked") == 0


def test_revoke_all_says_how_many_and_revokes_them(db, pages, admin):
    cohort = CohortFactory(name="Winter")
    for _ in range(3):
        GrantFactory(membership=MembershipFactory(cohort=cohort))
    signed_in(pages, admin)
    confirm = pages.get(f"/admin/cohorts/{cohort.id}/revoke-all")
    assert "every member of Winter: 3\n  artists" in confirm.text
    assert "Revoke access of 3 artists" in confirm.text
    response = pages.post(
        f"/admin/cohorts/{cohort.id}/revoke-all",
        {"category": "program_end", "reason": "The program ends early."},
    )
    assert response.status_code == 302
    assert "Revoked 3 grants in Winter." in pages.get(response.headers["Location"]).text
    assert audit_count("grant.revoked") == 3


def test_admin_grants_access_again(db, pages, admin):
    grant = GrantFactory(revoked=True)
    signed_in(pages, admin)
    page = pages.get(f"/staff/artists/{grant.user_id}").text
    assert "Grant tool access" in page
    response = pages.post(f"/admin/artists/{grant.user_id}/grants", {"expires_at": ""})
    assert response.status_code == 302
    assert "Access granted to" in pages.get(response.headers["Location"]).text
    assert audit_count("grant.created") == 1


def test_a_past_expiry_is_refused_next_to_the_field(db, pages, admin):
    grant = GrantFactory(revoked=True)
    signed_in(pages, admin)
    past = (utcnow() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = pages.post(f"/admin/artists/{grant.user_id}/grants", {"expires_at": past})
    assert response.status_code == 422
    assert "Expiry must be in the future." in response.text
    assert f'value="{past}"' in response.text
    assert audit_count("grant.created") == 0


def test_admin_links_the_generation_tool_id(db, pages, admin, member):
    signed_in(pages, admin)
    response = pages.post(
        f"/admin/artists/{member.user_id}/external-id", {"external_id": "tool-42"}
    )
    assert response.status_code == 302
    assert _db.session.get(User, member.user_id).external_id == "tool-42"


def test_a_taken_tool_id_is_refused(db, pages, admin, member):
    UserFactory(external_id="tool-42")
    signed_in(pages, admin)
    response = pages.post(
        f"/admin/artists/{member.user_id}/external-id", {"external_id": "tool-42"}
    )
    assert response.status_code == 409
    assert "already belongs to another artist" in response.text
    assert 'value="tool-42"' in response.text


# --- pauses --------------------------------------------------------------------------------

REASON = "Safety review of a model update after a reported misuse."


def test_pausing_everyone_asks_first_then_artists_see_the_banner(db, app, pages, admin, member):
    MembershipFactory()  # a second active artist
    signed_in(pages, admin)
    confirm = pages.post("/admin/pauses", {"scope": "global", "reason": REASON})
    assert confirm.status_code == 200
    assert "Pause tool access for 2 artists?" in confirm.text
    assert 'name="confirmed" value="yes"' in confirm.text
    assert f'name="reason" value="{REASON}"' in confirm.text
    assert _db.session.scalar(sa.select(sa.func.count(Pause.id))) == 0  # nothing yet

    response = pages.post(
        "/admin/pauses",
        {"scope": "global", "reason": REASON, "expected_end": "", "confirmed": "yes"},
    )
    assert response.status_code == 302
    listing = pages.get("/admin/pauses").text
    assert "Access paused: Whole program." in listing
    assert "in force" in listing
    assert audit_count("pause.started") == 1
    emails = _db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "pause.started")
    )
    assert emails == 2

    artist_browser = app.test_client()
    with artist_browser.session_transaction() as session:
        session["_user_id"] = member.user.get_id()
    dashboard = artist_browser.get("/dashboard").text
    assert "Access paused" in dashboard
    assert "Access to the tool is paused — Whole program." in dashboard
    assert f"Reason: {REASON}" in dashboard
    assert "pause-banner" in artist_browser.get("/terms").text  # on every page


def test_pausing_one_cohort_counts_its_members(db, pages, admin):
    cohort = CohortFactory(name="Winter")
    MembershipFactory(cohort=cohort)
    MembershipFactory()  # in another cohort
    signed_in(pages, admin)
    expected = (utcnow() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    confirm = pages.post(
        "/admin/pauses",
        {"scope": f"cohort:{cohort.id}", "reason": REASON, "expected_end": expected},
    )
    assert "Pause tool access for 1 artist?" in confirm.text
    assert "in Winter" in confirm.text
    assert f'name="expected_end" value="{expected}"' in confirm.text
    pages.post(
        "/admin/pauses",
        {
            "scope": f"cohort:{cohort.id}",
            "reason": REASON,
            "expected_end": expected,
            "confirmed": "yes",
        },
    )
    pause = _db.session.scalar(sa.select(Pause))
    assert (pause.scope, pause.cohort_id) == ("cohort", cohort.id)
    assert pause.expected_end_at is not None


def test_a_pause_needs_a_reason_and_keeps_the_other_values(db, pages, admin):
    signed_in(pages, admin)
    response = pages.post("/admin/pauses", {"scope": "global", "reason": "  "})
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert '<option selected value="global">' in response.text
    assert audit_count("pause.started") == 0


def test_a_past_expected_end_is_refused_before_the_confirmation(db, pages, admin):
    signed_in(pages, admin)
    past = (utcnow() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = pages.post(
        "/admin/pauses", {"scope": "global", "reason": REASON, "expected_end": past}
    )
    assert response.status_code == 422
    assert "The expected end must be in the future." in response.text


def test_a_second_open_pause_is_refused_with_the_reason(db, pages, admin):
    PauseFactory()
    signed_in(pages, admin)
    response = pages.post(
        "/admin/pauses", {"scope": "global", "reason": REASON, "confirmed": "yes"}
    )
    assert response.status_code == 409
    assert "A pause of this scope is already open" in response.text


def test_admin_ends_a_pause_with_a_note(db, pages, admin):
    pause = PauseFactory(reason="Maintenance.")
    signed_in(pages, admin)
    listing = pages.get("/admin/pauses").text
    assert f'action="/admin/pauses/{pause.id}/end"' in listing
    response = pages.post(f"/admin/pauses/{pause.id}/end", {"note": "All done, thank you."})
    assert response.status_code == 302
    listing = pages.get("/admin/pauses").text
    assert "Pause ended: Whole program. Access resumes at once." in listing
    assert "All done, thank you." in listing
    assert _db.session.get(Pause, pause.id).ended_at is not None
    assert audit_count("pause.ended") == 1


def test_ending_an_ended_pause_says_why_not(db, pages, admin):
    pause = PauseFactory(ended=True)
    signed_in(pages, admin)
    response = pages.post(f"/admin/pauses/{pause.id}/end", {"note": ""})
    assert response.status_code == 409
    assert "already ended" in response.text


def test_empty_pause_list_says_what_to_do(db, pages, admin):
    signed_in(pages, admin)
    assert "No pauses yet." in pages.get("/admin/pauses").text

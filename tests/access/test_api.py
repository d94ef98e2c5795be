"""The access API: grants, revocations, pauses, artists and /me (SPEC §3.5–3.7, issue 2)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.access.models import Grant, Pause
from access_program.audit.models import AuditEvent
from access_program.db import db as _db
from access_program.db import utcnow
from access_program.outbox.models import OutboxMessage
from tests.access import setup_committed_before_requests  # noqa: F401
from tests.factories import (
    CohortFactory,
    GrantFactory,
    MembershipFactory,
    PauseFactory,
    UserFactory,
)
from tests.helpers import audit_actions_since, audit_head_seq


@pytest.fixture
def admin(api_client):
    return api_client(UserFactory(admin=True, name="Ada Admin"))


@pytest.fixture
def staff(api_client):
    return api_client(UserFactory(staff=True))


@pytest.fixture
def tool(api_client):
    return api_client(service="generation-tool", scopes=["access:check"])


def events_since(seq: int) -> list[AuditEvent]:
    return list(
        _db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        )
    )


def outbox(kind: str) -> dict[int, OutboxMessage]:
    """Messages of one kind, by recipient user id."""
    messages = _db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind))
    return {m.user_id: m for m in messages}


def assert_refused(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["message"]
    for name in fields:
        assert error["details"].get(name), error
    return error


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


# --- grants -------------------------------------------------------------------------------


def test_admin_grants_access_and_the_decision_allows_at_once(admin, tool):
    member = MembershipFactory()
    head = audit_head_seq()
    assert tool.get(f"/api/v1/access/{member.user_id}").get_json()["allowed"] is False

    response = admin.post(f"/api/v1/artists/{member.user_id}/grants", json={})

    assert response.status_code == 201
    body = response.get_json()
    assert body["artist_id"] == member.user_id
    assert body["membership_id"] == member.id
    assert body["cohort_id"] == member.cohort_id
    assert body["state"] == "active"
    assert body["expires_at"] is None
    assert body["granted_by_id"] is not None
    (event,) = events_since(head)
    assert (event.action, event.subject_id, event.artist_id) == (
        "grant.created",
        str(body["id"]),
        member.user_id,
    )
    decision = tool.get(f"/api/v1/access/{member.user_id}").get_json()
    assert decision["allowed"] is True
    assert decision["grant_id"] == body["id"]


def test_a_grant_may_expire(admin):
    member = MembershipFactory()
    expires = utcnow() + dt.timedelta(days=7)

    response = admin.post(
        f"/api/v1/artists/{member.user_id}/grants", json={"expires_at": iso(expires)}
    )

    assert response.status_code == 201
    returned = dt.datetime.fromisoformat(response.get_json()["expires_at"])
    assert abs(returned - expires) < dt.timedelta(seconds=1)


def test_a_second_active_grant_is_409(admin):
    grant = GrantFactory()
    head = audit_head_seq()

    response = admin.post(f"/api/v1/artists/{grant.user_id}/grants", json={})

    error = assert_refused(response, 409)
    assert error["code"] == "grant_exists"
    assert str(grant.id) in error["message"]
    assert audit_head_seq() == head
    assert _db.session.scalar(sa.select(sa.func.count(Grant.id))) == 1


def test_a_new_grant_after_an_expired_or_revoked_one_is_allowed(admin):
    old = GrantFactory(expired=True)
    GrantFactory(membership=old.membership, revoked=True)

    response = admin.post(f"/api/v1/artists/{old.user_id}/grants", json={})

    assert response.status_code == 201


@pytest.mark.parametrize("ended", [False, True], ids=["never-member", "membership-ended"])
def test_a_grant_for_an_artist_without_active_membership_is_409(admin, ended):
    artist = MembershipFactory(ended=True).user if ended else UserFactory()

    response = admin.post(f"/api/v1/artists/{artist.id}/grants", json={})

    assert "membership" in assert_refused(response, 409)["message"]


@pytest.mark.parametrize(
    "expires_at",
    [
        iso(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        "2020-01-01T00:00:00",  # no time zone
        "next tuesday",
    ],
    ids=["past", "naive", "garbage"],
)
def test_a_bad_expiry_is_422(admin, expires_at):
    member = MembershipFactory()

    response = admin.post(
        f"/api/v1/artists/{member.user_id}/grants", json={"expires_at": expires_at}
    )

    assert_refused(response, 422, "expires_at")


def test_granting_is_for_admins(api_client, staff, tool):
    member = MembershipFactory()
    url = f"/api/v1/artists/{member.user_id}/grants"

    assert staff.post(url, json={}).status_code == 403
    assert api_client(member.user).post(url, json={}).status_code == 403
    assert tool.post(url, json={}).status_code == 403
    assert api_client().post(url, json={}).status_code == 401


@pytest.mark.parametrize("who", ["nobody", "staff"])
def test_granting_to_an_unknown_artist_is_404(admin, who):
    artist_id = UserFactory(staff=True).id if who == "staff" else 424242

    assert admin.post(f"/api/v1/artists/{artist_id}/grants", json={}).status_code == 404


# --- revocation ---------------------------------------------------------------------------


def test_revoking_a_grant_records_why_tells_the_artist_and_stops_access(admin, tool):
    grant = GrantFactory()
    head = audit_head_seq()

    response = admin.post(
        f"/api/v1/grants/{grant.id}/revoke",
        json={"category": "inactivity", "reason": "No generations in 90 days."},
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["state"] == "revoked"
    assert body["revoke_category"] == "inactivity"
    assert body["revoke_reason"] == "No generations in 90 days."
    assert body["revoked_at"] is not None and body["revoked_by_id"] is not None
    (event,) = events_since(head)
    assert event.action == "grant.revoked"
    assert event.artist_id == grant.user_id
    assert event.data == {"category": "inactivity", "reason": "No generations in 90 days."}
    message = outbox("grant.revoked")[grant.user_id]
    assert "No generations in 90 days." in message.body
    decision = tool.get(f"/api/v1/access/{grant.user_id}").get_json()
    assert [r["code"] for r in decision["reasons"]] == ["no_active_grant"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ("category", "reason")),
        ({"category": "misconduct"}, ("reason",)),
        ({"reason": "Because."}, ("category",)),
        ({"category": "vibes", "reason": "Because."}, ("category",)),
        ({"category": "misconduct", "reason": ""}, ("reason",)),
        ({"category": "misconduct", "reason": "   "}, ("reason",)),
    ],
    ids=["empty", "no-reason", "no-category", "unknown-category", "empty-reason", "blank-reason"],
)
def test_a_revocation_needs_a_known_category_and_a_reason(admin, body, fields):
    grant = GrantFactory()
    head = audit_head_seq()

    response = admin.post(f"/api/v1/grants/{grant.id}/revoke", json=body)

    error = assert_refused(response, 422, *fields)
    assert set(error["details"]) == set(fields)
    assert audit_head_seq() == head
    assert _db.session.get(Grant, grant.id).revoked_at is None


def test_an_unknown_category_lists_the_known_ones(admin):
    grant = GrantFactory()

    response = admin.post(
        f"/api/v1/grants/{grant.id}/revoke", json={"category": "vibes", "reason": "x"}
    )

    message = " ".join(response.get_json()["error"]["details"]["category"])
    for category in ("misconduct", "inactivity", "artist_request", "program_end", "other"):
        assert category in message


def test_revoking_twice_is_409(admin):
    grant = GrantFactory(revoked=True)
    head = audit_head_seq()

    response = admin.post(
        f"/api/v1/grants/{grant.id}/revoke", json={"category": "other", "reason": "Again."}
    )

    assert "already revoked" in assert_refused(response, 409)["message"]
    assert audit_head_seq() == head


@pytest.mark.parametrize("grant_id", [424242, 99999999999999999999])
def test_revoking_an_unknown_grant_is_404(admin, grant_id):
    response = admin.post(
        f"/api/v1/grants/{grant_id}/revoke", json={"category": "other", "reason": "x"}
    )

    assert response.status_code == 404


def test_revoking_is_for_admins(api_client, staff):
    grant = GrantFactory()
    body = {"category": "other", "reason": "x"}

    assert staff.post(f"/api/v1/grants/{grant.id}/revoke", json=body).status_code == 403
    assert (
        api_client(grant.membership.user)
        .post(f"/api/v1/grants/{grant.id}/revoke", json=body)
        .status_code
        == 403
    )


def test_an_artist_reads_their_grants_with_revocation_category_and_reason(api_client):
    revoked = GrantFactory(
        revoked=True, revoke_category="artist_request", revoke_reason="Asked to pause."
    )
    current = GrantFactory(membership=revoked.membership)
    artist = api_client(revoked.membership.user)

    response = artist.get(f"/api/v1/artists/{revoked.user_id}/grants")

    assert response.status_code == 200
    grants = {g["id"]: g for g in response.get_json()}
    assert set(grants) == {revoked.id, current.id}
    assert grants[revoked.id]["state"] == "revoked"
    assert grants[revoked.id]["revoke_category"] == "artist_request"
    assert grants[revoked.id]["revoke_reason"] == "Asked to pause."
    assert grants[current.id]["state"] == "active"


def test_an_artist_asking_for_another_artists_grants_gets_404(api_client):
    mine = GrantFactory()
    theirs = GrantFactory()
    artist = api_client(mine.membership.user)

    response = artist.get(f"/api/v1/artists/{theirs.user_id}/grants")

    assert response.status_code == 404
    assert artist.get(f"/api/v1/artists/{theirs.user_id}").status_code == 404


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_read_any_artists_grants(api_client, role):
    grant = GrantFactory(revoked=True)

    response = api_client(UserFactory(**{role: True})).get(
        f"/api/v1/artists/{grant.user_id}/grants"
    )

    assert response.status_code == 200
    assert [g["id"] for g in response.get_json()] == [grant.id]


# --- revoke-all ---------------------------------------------------------------------------


def test_revoke_all_revokes_every_unrevoked_grant_of_the_cohort_with_one_reason(admin, tool):
    cohort = CohortFactory()
    grants = [GrantFactory(membership__cohort=cohort) for _ in range(3)]
    already = GrantFactory(membership__cohort=cohort, revoked=True)
    elsewhere = GrantFactory()
    head = audit_head_seq()

    response = admin.post(
        f"/api/v1/cohorts/{cohort.id}/revoke-all",
        json={"category": "program_end", "reason": "The beta is over."},
    )

    assert response.status_code == 200
    assert response.get_json() == {"cohort_id": cohort.id, "revoked": 3}
    events = events_since(head)
    assert [e.action for e in events] == ["grant.revoked"] * 3
    assert {(int(e.subject_id), e.artist_id) for e in events} == {(g.id, g.user_id) for g in grants}
    assert all(e.data == {"category": "program_end", "reason": "The beta is over."} for e in events)
    messages = outbox("grant.revoked")
    assert set(messages) == {g.user_id for g in grants}
    assert all("The beta is over." in m.body for m in messages.values())
    for grant in grants:
        _db.session.refresh(grant)
        assert grant.revoke_reason == "The beta is over."
        assert tool.get(f"/api/v1/access/{grant.user_id}").get_json()["allowed"] is False
    _db.session.refresh(already)
    assert already.revoke_reason == "Revoked in a test."
    assert tool.get(f"/api/v1/access/{elsewhere.user_id}").get_json()["allowed"] is True


def test_revoke_all_of_a_cohort_without_grants_revokes_nothing(admin):
    cohort = CohortFactory()
    head = audit_head_seq()

    response = admin.post(
        f"/api/v1/cohorts/{cohort.id}/revoke-all", json={"category": "other", "reason": "x"}
    )

    assert response.get_json() == {"cohort_id": cohort.id, "revoked": 0}
    assert audit_head_seq() == head


def test_revoke_all_validates_like_a_single_revocation(admin):
    grant = GrantFactory()
    cohort_id = grant.membership.cohort_id

    response = admin.post(f"/api/v1/cohorts/{cohort_id}/revoke-all", json={"category": "x"})

    assert_refused(response, 422, "category", "reason")
    assert _db.session.get(Grant, grant.id).revoked_at is None


@pytest.mark.parametrize("cohort_id", [424242, 99999999999999999999])
def test_revoke_all_of_an_unknown_cohort_is_404(admin, cohort_id):
    response = admin.post(
        f"/api/v1/cohorts/{cohort_id}/revoke-all", json={"category": "other", "reason": "x"}
    )

    assert response.status_code == 404


def test_revoke_all_is_for_admins(staff):
    cohort = CohortFactory()

    response = staff.post(
        f"/api/v1/cohorts/{cohort.id}/revoke-all", json={"category": "other", "reason": "x"}
    )

    assert response.status_code == 403


# --- pauses -------------------------------------------------------------------------------


def test_a_global_pause_is_recorded_and_every_active_member_is_told(admin):
    members = [MembershipFactory() for _ in range(2)]
    members.append(MembershipFactory(cohort=members[0].cohort))
    gone = MembershipFactory(ended=True)
    UserFactory(staff=True)
    expected_end = utcnow() + dt.timedelta(days=2)
    head = audit_head_seq()

    response = admin.post(
        "/api/v1/pauses",
        json={
            "scope": "global",
            "reason": "Safety review of a model update.",
            "expected_end": iso(expected_end),
        },
    )

    assert response.status_code == 201
    pause = response.get_json()
    assert pause["scope"] == "global"
    assert pause["cohort_id"] is None
    assert pause["reason"] == "Safety review of a model update."
    assert pause["is_open"] is True and pause["ended_at"] is None
    assert pause["started_by_id"] is not None
    assert abs(dt.datetime.fromisoformat(pause["expected_end"]) - expected_end) < dt.timedelta(
        seconds=1
    )
    (event,) = events_since(head)
    assert (event.action, event.subject_id) == ("pause.started", str(pause["id"]))
    assert event.data["reason"] == "Safety review of a model update."
    messages = outbox("pause.started")
    assert set(messages) == {m.user_id for m in members}
    assert gone.user_id not in messages
    assert all("Safety review of a model update." in m.body for m in messages.values())


def test_a_cohort_pause_tells_only_that_cohorts_members(admin, tool):
    paused = [GrantFactory() for _ in range(2)]
    cohort = paused[0].membership.cohort
    paused[1] = GrantFactory(membership__cohort=cohort)
    other = GrantFactory()

    response = admin.post(
        "/api/v1/pauses",
        json={"scope": "cohort", "cohort_id": cohort.id, "reason": "Cohort review."},
    )

    assert response.status_code == 201
    assert response.get_json()["cohort_id"] == cohort.id
    assert set(outbox("pause.started")) == {g.user_id for g in paused}
    assert tool.get(f"/api/v1/access/{paused[0].user_id}").get_json()["allowed"] is False
    assert tool.get(f"/api/v1/access/{other.user_id}").get_json()["allowed"] is True


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"scope": "global"}, ("reason",)),
        ({"scope": "global", "reason": ""}, ("reason",)),
        ({"scope": "global", "reason": "   "}, ("reason",)),
        ({"scope": "everything", "reason": "x"}, ("scope",)),
        ({"reason": "x"}, ("scope",)),
        ({"scope": "cohort", "reason": "x"}, ("cohort_id",)),
        ({"scope": "global", "cohort_id": 1, "reason": "x"}, ("cohort_id",)),
        ({"scope": "cohort", "cohort_id": 99999999999999999999, "reason": "x"}, ("cohort_id",)),
        (
            {"scope": "global", "reason": "x", "expected_end": "2020-01-01T00:00:00Z"},
            ("expected_end",),
        ),
        (
            {"scope": "global", "reason": "x", "expected_end": "2999-01-01T00:00:00"},
            ("expected_end",),
        ),
    ],
    ids=[
        "no-reason",
        "empty-reason",
        "blank-reason",
        "unknown-scope",
        "no-scope",
        "cohort-without-id",
        "global-with-cohort",
        "huge-cohort-id",
        "end-in-past",
        "naive-end",
    ],
)
def test_a_bad_pause_is_422_with_a_message_per_field(admin, body, fields):
    MembershipFactory()
    head = audit_head_seq()

    response = admin.post("/api/v1/pauses", json=body)

    assert_refused(response, 422, *fields)
    assert audit_head_seq() == head
    assert _db.session.scalar(sa.select(sa.func.count(Pause.id))) == 0
    assert outbox("pause.started") == {}


def test_a_pause_of_an_unknown_cohort_is_404(admin):
    response = admin.post(
        "/api/v1/pauses", json={"scope": "cohort", "cohort_id": 424242, "reason": "x"}
    )

    assert response.status_code == 404


def test_a_second_open_global_pause_is_409(admin):
    first = PauseFactory()
    head = audit_head_seq()

    response = admin.post("/api/v1/pauses", json={"scope": "global", "reason": "Again."})

    error = assert_refused(response, 409)
    assert error["code"] == "pause_open"
    assert str(first.id) in error["message"]
    assert audit_head_seq() == head


def test_a_second_open_pause_of_the_same_cohort_is_409(admin):
    first = PauseFactory(for_cohort=True)

    response = admin.post(
        "/api/v1/pauses",
        json={"scope": "cohort", "cohort_id": first.cohort_id, "reason": "Again."},
    )

    assert assert_refused(response, 409)["code"] == "pause_open"


def test_pauses_of_different_scopes_may_be_open_together(admin):
    PauseFactory()
    cohort_a = CohortFactory()
    cohort_b = CohortFactory()

    for cohort in (cohort_a, cohort_b):
        response = admin.post(
            "/api/v1/pauses", json={"scope": "cohort", "cohort_id": cohort.id, "reason": "x"}
        )
        assert response.status_code == 201


def test_a_new_pause_may_start_once_the_last_one_ended(admin):
    PauseFactory(ended=True)

    assert admin.post("/api/v1/pauses", json={"scope": "global", "reason": "x"}).status_code == 201


def test_starting_a_pause_is_for_admins(api_client, staff, tool):
    body = {"scope": "global", "reason": "x"}

    assert staff.post("/api/v1/pauses", json=body).status_code == 403
    assert tool.post("/api/v1/pauses", json=body).status_code == 403
    assert api_client(UserFactory()).post("/api/v1/pauses", json=body).status_code == 403


def test_ending_a_pause_records_the_note_and_tells_the_same_artists(admin):
    member = MembershipFactory()
    other_cohort_member = MembershipFactory()
    pause = PauseFactory(for_cohort=True, cohort=member.cohort)
    head = audit_head_seq()

    response = admin.post(f"/api/v1/pauses/{pause.id}/end", json={"note": "Update rolled back."})

    assert response.status_code == 200
    body = response.get_json()
    assert body["is_open"] is False
    assert body["ended_at"] is not None and body["ended_by_id"] is not None
    assert body["end_note"] == "Update rolled back."
    (event,) = events_since(head)
    assert (event.action, event.subject_id) == ("pause.ended", str(pause.id))
    assert event.data["note"] == "Update rolled back."
    messages = outbox("pause.ended")
    assert set(messages) == {member.user_id}
    assert other_cohort_member.user_id not in messages
    assert "Update rolled back." in messages[member.user_id].body


def test_a_pause_may_end_without_a_note(admin):
    pause = PauseFactory()

    response = admin.post(f"/api/v1/pauses/{pause.id}/end", json={})

    assert response.status_code == 200
    assert response.get_json()["end_note"] is None


def test_ending_a_pause_twice_is_409(admin):
    pause = PauseFactory(ended=True)
    head = audit_head_seq()

    response = admin.post(f"/api/v1/pauses/{pause.id}/end", json={"note": "Again."})

    assert "already ended" in assert_refused(response, 409)["message"]
    assert audit_head_seq() == head


@pytest.mark.parametrize("pause_id", [424242, 99999999999999999999])
def test_ending_an_unknown_pause_is_404(admin, pause_id):
    assert admin.post(f"/api/v1/pauses/{pause_id}/end", json={}).status_code == 404


def test_ending_a_pause_is_for_admins(staff):
    pause = PauseFactory()

    assert staff.post(f"/api/v1/pauses/{pause.id}/end", json={}).status_code == 403


@pytest.mark.parametrize(
    ("scope", "code"), [("global", "program_paused"), ("cohort", "cohort_paused")]
)
def test_the_decision_flips_at_once_when_a_pause_starts_and_ends(admin, tool, scope, code):
    grant = GrantFactory()
    url = f"/api/v1/access/{grant.user_id}"
    assert tool.get(url).get_json()["allowed"] is True

    body = {"scope": scope, "reason": "Flip test."}
    if scope == "cohort":
        body["cohort_id"] = grant.membership.cohort_id
    pause = admin.post("/api/v1/pauses", json=body).get_json()

    decision = tool.get(url).get_json()
    assert decision["allowed"] is False
    assert [r["code"] for r in decision["reasons"]] == [code]
    assert "Flip test." in decision["reasons"][0]["message"]

    assert admin.post(f"/api/v1/pauses/{pause['id']}/end", json={}).status_code == 200

    assert tool.get(url).get_json()["allowed"] is True


def test_listing_pauses_open_only_or_all_newest_first(staff):
    ended = PauseFactory(ended=True, started_at=utcnow() - dt.timedelta(days=3))
    open_global = PauseFactory(started_at=utcnow() - dt.timedelta(days=1))
    open_cohort = PauseFactory(for_cohort=True)

    everything = staff.get("/api/v1/pauses")
    only_open = staff.get("/api/v1/pauses?open=true")

    assert everything.status_code == 200
    assert [p["id"] for p in everything.get_json()] == [open_cohort.id, open_global.id, ended.id]
    assert "X-Pagination" in everything.headers
    assert [p["id"] for p in only_open.get_json()] == [open_cohort.id, open_global.id]
    assert all(p["is_open"] for p in only_open.get_json())


def test_listing_pauses_is_for_staff(api_client, tool):
    assert api_client(UserFactory()).get("/api/v1/pauses").status_code == 403
    assert tool.get("/api/v1/pauses").status_code == 403


# --- /me ----------------------------------------------------------------------------------


def test_me_shows_an_artist_their_access_status_and_the_pauses_that_affect_them(api_client):
    grant = GrantFactory()
    PauseFactory(reason="Everyone waits.")
    PauseFactory(for_cohort=True, cohort=grant.membership.cohort, reason="My cohort waits.")
    PauseFactory(for_cohort=True, reason="Not my cohort.")

    response = api_client(grant.membership.user).get("/api/v1/me")

    assert response.status_code == 200
    me = response.get_json()
    assert me["id"] == grant.user_id
    assert me["role"] == "artist"
    assert me["access"]["allowed"] is False
    assert [r["code"] for r in me["access"]["reasons"]] == ["cohort_paused", "program_paused"]
    assert me["access"]["grant_id"] == grant.id
    assert sorted(p["reason"] for p in me["pauses"]) == ["Everyone waits.", "My cohort waits."]
    assert me["cohort"]["id"] == grant.membership.cohort_id
    assert me["needs_terms_acceptance"] is False


def test_me_says_when_the_artist_must_accept_new_terms(api_client):
    member = MembershipFactory(terms_not_accepted=True)

    me = api_client(member.user).get("/api/v1/me").get_json()

    assert me["needs_terms_acceptance"] is True
    assert "terms_not_accepted" in [r["code"] for r in me["access"]["reasons"]]


def test_me_for_an_active_artist(api_client):
    grant = GrantFactory()

    me = api_client(grant.membership.user).get("/api/v1/me").get_json()

    assert me["access"]["allowed"] is True
    assert me["access"]["reasons"] == []
    assert me["pauses"] == []


def test_me_for_staff_has_no_access_status(staff):
    me = staff.get("/api/v1/me").get_json()

    assert me["role"] == "staff"
    assert me["access"] is None
    assert me["needs_terms_acceptance"] is False


# --- artists ------------------------------------------------------------------------------


def test_admin_links_the_tools_user_id_and_the_tool_can_ask_by_it(admin, tool):
    grant = GrantFactory()
    head = audit_head_seq()

    response = admin.patch(f"/api/v1/artists/{grant.user_id}", json={"external_id": " tool-9 "})

    assert response.status_code == 200
    assert response.get_json()["external_id"] == "tool-9"
    assert audit_actions_since(head) == ["artist.external_id_set"]
    decision = tool.get("/api/v1/access?external_id=tool-9").get_json()
    assert decision["allowed"] is True and decision["grant_id"] == grant.id


def test_a_duplicate_external_id_is_409_and_changes_nothing(admin):
    UserFactory(external_id="taken")
    artist = UserFactory(external_id="mine")
    head = audit_head_seq()

    response = admin.patch(f"/api/v1/artists/{artist.id}", json={"external_id": "taken"})

    assert "taken" in assert_refused(response, 409)["message"]
    assert audit_head_seq() == head
    _db.session.refresh(artist)
    assert artist.external_id == "mine"


def test_an_external_id_may_be_cleared(admin):
    artist = UserFactory(external_id="old")

    response = admin.patch(f"/api/v1/artists/{artist.id}", json={"external_id": None})

    assert response.status_code == 200
    assert response.get_json()["external_id"] is None


@pytest.mark.parametrize(
    "body", [{}, {"external_id": "x" * 129}, {"external_id": 12}], ids=["missing", "long", "int"]
)
def test_a_bad_external_id_is_422(admin, body):
    artist = UserFactory()

    assert_refused(admin.patch(f"/api/v1/artists/{artist.id}", json=body), 422, "external_id")


def test_setting_an_external_id_is_for_admins(api_client, staff):
    artist = UserFactory()
    url = f"/api/v1/artists/{artist.id}"

    assert staff.patch(url, json={"external_id": "x"}).status_code == 403
    assert api_client(artist).patch(url, json={"external_id": "x"}).status_code == 403


def test_an_artist_reads_their_own_record_and_not_anothers(api_client):
    me = UserFactory()
    other = UserFactory()
    artist = api_client(me)

    assert artist.get(f"/api/v1/artists/{me.id}").get_json()["email"] == me.email
    assert artist.get(f"/api/v1/artists/{other.id}").status_code == 404
    assert artist.get("/api/v1/artists").status_code == 403


def test_staff_list_artists_by_cohort(staff):
    member = MembershipFactory()
    MembershipFactory()
    UserFactory(staff=True)

    response = staff.get(f"/api/v1/artists?cohort_id={member.cohort_id}")

    assert response.status_code == 200
    assert [a["id"] for a in response.get_json()] == [member.user_id]


@pytest.mark.parametrize("artist_id", [424242, 99999999999999999999])
def test_an_unknown_artist_is_404(staff, artist_id):
    assert staff.get(f"/api/v1/artists/{artist_id}").status_code == 404
    assert staff.get(f"/api/v1/artists/{artist_id}/grants").status_code == 404


def test_a_staff_id_is_not_an_artist(staff):
    assert staff.get(f"/api/v1/artists/{UserFactory(admin=True).id}").status_code == 404

"""Cohorts, terms and invitations over HTTP: statuses, shapes, roles, refusals (issue 2)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from access_program.access import service as access
from access_program.access.models import Grant
from access_program.access.service import decide_access
from access_program.accounts.models import User
from access_program.cohorts.models import Cohort, Invitation, Membership, TermsAcceptance
from access_program.errors import Conflict
from access_program.outbox.models import OutboxMessage
from tests.cohorts import events_since, terms_body
from tests.factories import (
    PASSWORD,
    ApiTokenFactory,
    CohortFactory,
    GrantFactory,
    InvitationFactory,
    MembershipFactory,
    TermsFactory,
    UserFactory,
)
from tests.helpers import audit_count, audit_head_seq

NEW_PASSWORD = "a long enough password"
HUGE = 99_999_999_999_999_999_999


class Caller:
    """An API client that commits the test's preconditions before each request, as a real
    client finds them: a refused request rolls its own work back, and must not take the
    factories' uncommitted rows with it."""

    def __init__(self, api, session):
        self.api = api
        self.session = session

    def __getattr__(self, method: str):
        call = getattr(self.api, method)

        def request(url: str, json=None, **kwargs):
            self.session.commit()
            return call(url, json=json, **kwargs)

        return request


@pytest.fixture
def call(db, api_client):
    """``call(user)``, ``call()`` (no token), ``call(token="...")`` (a raw bearer value)."""

    def make(user: User | None = None, *, token: str | None = None) -> Caller:
        if token is not None:
            api = api_client()
            api.headers = {"Authorization": f"Bearer {token}"}
            return Caller(api, db.session)
        return Caller(api_client(user), db.session)

    return make


@pytest.fixture
def admin(db):
    return UserFactory(admin=True)


@pytest.fixture
def as_admin(call, admin):
    return call(admin)


def error(response) -> dict:
    assert set(response.json) == {"error"}, response.json
    return response.json["error"]


def count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- who may call --------------------------------------------------------------------------


@pytest.fixture
def world(db):
    cohort = CohortFactory()
    return {
        "cohort": cohort,
        "draft_cohort": CohortFactory(draft=True),
        "draft_terms": TermsFactory(draft=True),
        "invitation": InvitationFactory(cohort=cohort),
    }


CHANGES = [
    ("post", "/api/v1/cohorts", {"name": "New"}),
    ("patch", "/api/v1/cohorts/{cohort}", {"capacity": 10}),
    ("post", "/api/v1/cohorts/{draft_cohort}/open", None),
    ("post", "/api/v1/cohorts/{cohort}/close", None),
    ("post", "/api/v1/cohorts/{cohort}/invitations", {"emails": ["a@example.org"]}),
    ("post", "/api/v1/invitations/{invitation}/withdraw", None),
    ("post", "/api/v1/terms", terms_body()),
    ("put", "/api/v1/terms/{draft_terms}", {k: v for k, v in terms_body().items() if k != "label"}),
    ("post", "/api/v1/terms/{draft_terms}/publish", None),
]
READS = [
    ("get", "/api/v1/cohorts"),
    ("get", "/api/v1/cohorts/{cohort}"),
    ("get", "/api/v1/terms"),
]


def _url(template: str, world: dict) -> str:
    return template.format(**{k: v.id for k, v in world.items()})


@pytest.mark.parametrize("method, url, body", CHANGES)
@pytest.mark.parametrize("role", ["artist", "staff"])
def test_only_admins_change_cohorts_terms_and_invitations(call, world, method, url, body, role):
    caller = call(UserFactory(**({"staff": True} if role == "staff" else {})))
    seq = audit_head_seq()
    response = getattr(caller, method)(_url(url, world), json=body)
    assert response.status_code == 403, response.json
    assert error(response)["message"] == "Only admin accounts may do this."
    assert events_since(seq) == []


@pytest.mark.parametrize("method, url, body", CHANGES)
def test_admins_may_make_each_change(as_admin, world, method, url, body):
    response = getattr(as_admin, method)(_url(url, world), json=body)
    assert response.status_code in (200, 201), response.json


@pytest.mark.parametrize("method, url", READS)
def test_staff_read_cohorts_and_artists_may_not(call, world, method, url):
    assert getattr(call(UserFactory(staff=True)), method)(_url(url, world)).status_code == 200
    assert getattr(call(UserFactory()), method)(_url(url, world)).status_code == 403


def _token(kind: str, admin: User) -> str | None:
    if kind == "none":
        return None
    if kind == "wrong":
        return "eap_not-a-real-token"
    traits = {"expired": {"expired": True}, "revoked": {"revoked": True}}[kind]
    return ApiTokenFactory(user=admin, service_name=None, scopes="api", **traits).plain


@pytest.mark.parametrize("kind", ["none", "wrong", "expired", "revoked"])
@pytest.mark.parametrize("method, url, body", [*CHANGES[:2], ("get", "/api/v1/cohorts", None)])
def test_a_missing_wrong_expired_or_revoked_token_is_401(
    call, admin, world, kind, method, url, body
):
    token = _token(kind, admin)
    caller = call() if token is None else call(token=token)
    seq = audit_head_seq()
    response = getattr(caller, method)(_url(url, world), json=body)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert error(response)["code"] in ("unauthorized", "invalid_token")
    assert events_since(seq) == []


def test_a_service_token_cannot_manage_cohorts(call, world):
    response = call(token=ApiTokenFactory().plain).get("/api/v1/cohorts")
    assert response.status_code == 403 and error(response)["code"] == "missing_scope"


# --- cohorts -------------------------------------------------------------------------------


def test_create_patch_open_and_close_a_cohort(as_admin, db):
    terms = TermsFactory()
    seq = audit_head_seq()
    created = as_admin.post(
        "/api/v1/cohorts",
        json={
            "name": "Spring 2025",
            "capacity": 50,
            "review_hours": 48,
            "on_deadline": "escalate",
            "auto_grant": False,
        },
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["name"], body["status"], body["capacity"], body["terms_id"]) == (
        "Spring 2025",
        "draft",
        50,
        None,
    )
    assert (body["on_deadline"], body["auto_grant"], body["review_hours"]) == (
        "escalate",
        False,
        48,
    )
    assert (body["members"], body["pending_invitations"]) == (0, 0)
    url = f"/api/v1/cohorts/{body['id']}"

    opened = as_admin.post(f"{url}/open")
    assert opened.status_code == 409 and "published terms" in error(opened)["message"]

    patched = as_admin.patch(url, json={"terms_id": terms.id, "description": "Artists' pilot"})
    assert patched.status_code == 200, patched.json
    assert (patched.json["terms_id"], patched.json["description"]) == (terms.id, "Artists' pilot")

    assert as_admin.post(f"{url}/open").json["status"] == "open"
    assert as_admin.get(url).json["status"] == "open"
    closed = as_admin.post(f"{url}/close")
    assert closed.status_code == 200 and closed.json["status"] == "closed"
    assert closed.json["closed_at"] is not None
    again = as_admin.post(f"{url}/close")
    assert again.status_code == 409 and error(again)["code"] == "invalid_transition"

    assert [a for a, _ in events_since(seq)] == [
        "cohort.created",
        "cohort.updated",
        "cohort.terms_changed",
        "cohort.opened",
        "cohort.closed",
    ]


def test_cohort_list_is_paginated_with_counts(as_admin, db):
    cohort = CohortFactory(capacity=9)
    MembershipFactory(cohort=cohort)
    InvitationFactory(cohort=cohort)
    CohortFactory()
    response = as_admin.get("/api/v1/cohorts?page_size=1")
    assert response.status_code == 200
    assert len(response.json) == 1
    assert '"total": 2' in response.headers["X-Pagination"]
    row = as_admin.get(f"/api/v1/cohorts/{cohort.id}").json
    assert (row["members"], row["pending_invitations"], row["capacity"]) == (1, 1, 9)


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"name": "C", "capacity": 0}, "capacity", "between 1 and 100000"),
        ({"name": ""}, "name", "1 to 120 characters"),
        ({"name": "   "}, "name", "blank"),
        ({}, "name", "Missing data"),
        ({"name": "C", "on_deadline": "shrug"}, "on_deadline", "deemed_approved, escalate"),
        ({"name": "C", "capacity": "many"}, "capacity", "integer"),
        ({"name": "C", "terms_id": HUGE}, "terms_id", "Not a valid id"),
        ({"name": "C", "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_cohort_bodies_get_422_with_a_message_per_field(as_admin, body, field, words):
    seq = audit_head_seq()
    response = as_admin.post("/api/v1/cohorts", json=body)
    assert response.status_code == 422, response.json
    err = error(response)
    assert err["code"] == "validation_error"
    assert words in " ".join(err["details"][field])
    assert events_since(seq) == []


def test_patch_refuses_a_bad_capacity_and_a_taken_name(as_admin, db):
    cohort = CohortFactory(name="A")
    CohortFactory(name="B")
    response = as_admin.patch(f"/api/v1/cohorts/{cohort.id}", json={"capacity": 0})
    assert response.status_code == 422 and "capacity" in error(response)["details"]
    response = as_admin.patch(f"/api/v1/cohorts/{cohort.id}", json={"name": "b"})
    assert response.status_code == 409 and "already exists" in error(response)["message"]
    response = as_admin.patch(f"/api/v1/cohorts/{cohort.id}", json={"terms_id": 999_999})
    assert response.status_code == 422 and "terms_id" in error(response)["details"]
    assert db.session.get(Cohort, cohort.id).name == "A"


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/v1/cohorts/{}"),
        ("patch", "/api/v1/cohorts/{}"),
        ("post", "/api/v1/cohorts/{}/open"),
        ("post", "/api/v1/cohorts/{}/close"),
        ("get", "/api/v1/cohorts/{}/invitations"),
        ("post", "/api/v1/cohorts/{}/invitations"),
        ("post", "/api/v1/invitations/{}/withdraw"),
        ("get", "/api/v1/terms/{}"),
        ("put", "/api/v1/terms/{}"),
        ("post", "/api/v1/terms/{}/publish"),
        ("get", "/api/v1/terms/{}/diff"),
    ],
)
@pytest.mark.parametrize("missing", [999_999, HUGE])
def test_unknown_ids_are_404(as_admin, method, url, missing):
    bodies = {
        "patch": {"capacity": 5},
        "put": {k: v for k, v in terms_body().items() if k != "label"},
        "post": {"emails": ["a@example.org"]} if url.endswith("invitations") else None,
    }
    response = getattr(as_admin, method)(url.format(missing), json=bodies.get(method))
    assert response.status_code == 404, response.json
    assert error(response)["code"] == "not_found" and error(response)["message"]


# --- terms ---------------------------------------------------------------------------------


def test_create_publish_and_freeze_terms(as_admin):
    seq = audit_head_seq()
    created = as_admin.post("/api/v1/terms", json=terms_body())
    assert created.status_code == 201, created.json
    terms = created.json
    assert (terms["status"], terms["label"]) == ("draft", "2025-01")
    assert [c["code"] for c in terms["clauses"]] == ["P1", "P2"]
    assert terms["rate_card"]["currency"] == "USD"
    assert terms["rate_card"]["red_team_finding"] == {
        "low": 4000,
        "medium": 10000,
        "high": 30000,
        "critical": 80000,
    }
    url = f"/api/v1/terms/{terms['id']}"
    edit = {k: v for k, v in terms_body().items() if k != "label"}
    edit["body"] = "Edited while a draft."
    assert as_admin.put(url, json=edit).json["body"] == "Edited while a draft."

    published = as_admin.post(f"{url}/publish")
    assert published.status_code == 200 and published.json["status"] == "published"

    edit["body"] = "Too late."
    refused = as_admin.put(url, json=edit)
    assert refused.status_code == 409
    assert "published and cannot change" in error(refused)["message"]
    assert as_admin.get(url).json["body"] == "Edited while a draft."
    assert as_admin.post(f"{url}/publish").status_code == 409
    assert [a for a, _ in events_since(seq)] == [
        "terms.created",
        "terms.updated",
        "terms.published",
    ]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"label": ""}, "label"),
        ({"clauses": [{"code": "P1", "title": "", "text": "x"}]}, "clauses"),
        ({"rate_card": {"currency": "usd"}}, "rate_card"),
        (
            {
                "rate_card": {
                    **terms_body()["rate_card"],
                    "bug_report": {"low": -5, "medium": 1, "high": 1, "critical": 1},
                }
            },
            "rate_card",
        ),
    ],
)
def test_bad_terms_bodies_get_422(as_admin, change, field):
    response = as_admin.post("/api/v1/terms", json=terms_body(**change))
    assert response.status_code == 422, response.json
    assert field in error(response)["details"]


def test_duplicate_clause_codes_are_refused(as_admin):
    clauses = [{"code": "P1", "title": "a", "text": "b"}, {"code": "P1", "title": "c", "text": "d"}]
    response = as_admin.post("/api/v1/terms", json=terms_body(clauses=clauses))
    assert response.status_code == 422
    assert error(response)["details"]["clauses"] == ["Duplicate clause code: P1"]


def test_artists_read_published_terms_but_not_drafts(call):
    artist = UserFactory()
    published, draft = TermsFactory(), TermsFactory(draft=True)
    caller = call(artist)
    assert caller.get(f"/api/v1/terms/{published.id}").status_code == 200
    hidden = caller.get(f"/api/v1/terms/{draft.id}")
    assert hidden.status_code == 404 and error(hidden)["message"] == f"No terms version {draft.id}."
    assert caller.get(f"/api/v1/terms/{draft.id}/diff").status_code == 404
    assert call(UserFactory(staff=True)).get(f"/api/v1/terms/{draft.id}").status_code == 200


def test_new_terms_block_access_until_each_member_accepts(call, as_admin, db):
    cohort = CohortFactory()
    member = GrantFactory(membership=MembershipFactory(cohort=cohort)).membership
    other = GrantFactory(membership=MembershipFactory(cohort=cohort)).membership
    old = cohort.terms
    new = TermsFactory(
        body="# Terms\n\nBe kind to the tool.\nCredit the tool.",
        clauses=[("P1", "No real people", "Never."), ("P3", "Minors", "No minors.")],
        rate_card__marketing_use=75000,
    )
    tool = call(token=ApiTokenFactory().plain)
    member_id, other_id, member_email = member.user_id, other.user_id, member.user.email
    assert tool.get(f"/api/v1/access/{member_id}").json["allowed"] is True
    seq = audit_head_seq()

    moved = as_admin.patch(f"/api/v1/cohorts/{cohort.id}", json={"terms_id": new.id})

    assert moved.status_code == 200 and moved.json["terms_id"] == new.id
    assert events_since(seq) == [("cohort.terms_changed", None)]
    for artist_id in (member_id, other_id):
        decision = tool.get(f"/api/v1/access/{artist_id}").json
        assert decision["allowed"] is False
        assert [r["code"] for r in decision["reasons"]] == ["terms_not_accepted"]
    notices = db.session.scalars(
        sa.select(OutboxMessage.to_email).where(OutboxMessage.kind == "terms.new")
    ).all()
    assert sorted(notices) == sorted([member_email, other.user.email])

    artist = call(db.session.get(User, member_id))
    diff = artist.get(f"/api/v1/terms/{new.id}/diff")
    assert diff.status_code == 200, diff.json
    assert (diff.json["from"], diff.json["to"], diff.json["unchanged"]) == (old.id, new.id, False)
    assert "+Credit the tool." in diff.json["body"]
    assert [c["code"] for c in diff.json["clauses_added"]] == ["P3"]
    assert [c["code"] for c in diff.json["clauses_removed"]] == ["P2"]
    assert diff.json["clauses_changed"][0]["after"]["text"] == "Never."
    assert diff.json["rates_changed"] == [
        {"rate": "marketing_use", "before": 50000, "after": 75000}
    ]

    assert (
        artist.post(f"/api/v1/terms/{old.id}/accept", json={"accept_terms": True}).status_code
        == 409
    )
    refused = artist.post(f"/api/v1/terms/{new.id}/accept", json={"accept_terms": False})
    assert refused.status_code == 422 and "accept_terms" in error(refused)["details"]
    seq = audit_head_seq()
    accepted = artist.post(f"/api/v1/terms/{new.id}/accept", json={"accept_terms": True})
    assert accepted.status_code == 201, accepted.json
    assert accepted.json["terms_id"] == new.id
    assert events_since(seq) == [("terms.accepted", member_id)]
    assert tool.get(f"/api/v1/access/{member_id}").json["allowed"] is True
    assert tool.get(f"/api/v1/access/{other_id}").json["allowed"] is False
    again = artist.post(f"/api/v1/terms/{new.id}/accept", json={"accept_terms": True})
    assert again.status_code == 409 and "already accepted" in error(again)["message"]


def test_moving_to_draft_terms_is_refused(as_admin, db):
    cohort = CohortFactory()
    draft = TermsFactory(draft=True)
    response = as_admin.patch(f"/api/v1/cohorts/{cohort.id}", json={"terms_id": draft.id})
    assert response.status_code == 409 and "publish them first" in error(response)["message"]
    assert db.session.get(Cohort, cohort.id).terms_id != draft.id


# --- invitations ---------------------------------------------------------------------------


def test_one_invitation_shows_its_link_once(as_admin, db):
    cohort = CohortFactory()
    seq = audit_head_seq()
    response = as_admin.post(
        f"/api/v1/cohorts/{cohort.id}/invitations", json={"emails": ["Ana@Example.org"]}
    )
    assert response.status_code == 201, response.json
    (result,) = response.json["results"]
    assert set(result) == {"email", "status", "message", "invitation_id", "accept_url"}
    assert (result["email"], result["status"]) == ("ana@example.org", "sent")
    token = result["accept_url"].rsplit("/invitations/", 1)[1]
    assert len(token) >= 22
    assert events_since(seq) == [("invitation.sent", None)]

    listed = as_admin.get(f"/api/v1/cohorts/{cohort.id}/invitations")
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json] == [result["invitation_id"]]
    assert "accept_url" not in listed.json[0] and token not in listed.get_data(as_text=True)
    withdrawn = as_admin.post(f"/api/v1/invitations/{result['invitation_id']}/withdraw")
    assert token not in withdrawn.get_data(as_text=True)

    stored = db.session.execute(sa.select(Invitation.__table__)).all()
    assert all(token not in str(tuple(row)) for row in stored)
    (mail,) = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "invitation")
    ).all()
    assert mail.to_email == "ana@example.org" and result["accept_url"] in mail.body


def test_the_fourth_invitation_into_three_seats_is_refused(as_admin, db):
    cohort = CohortFactory(capacity=3)
    url = f"/api/v1/cohorts/{cohort.id}/invitations"
    for n in range(3):
        assert as_admin.post(url, json={"emails": [f"a{n}@example.org"]}).status_code == 201
    seq = audit_head_seq()
    response = as_admin.post(url, json={"emails": ["a3@example.org"]})
    assert response.status_code == 409
    assert error(response)["code"] == "cohort_full"
    assert "cohort full: 3 of 3" in error(response)["message"]
    assert events_since(seq) == []
    assert as_admin.get(f"/api/v1/cohorts/{cohort.id}").json["pending_invitations"] == 3


def test_expired_pending_invitations_do_not_hold_seats(as_admin):
    cohort = CohortFactory(capacity=1)
    InvitationFactory(cohort=cohort, expired=True)
    response = as_admin.post(
        f"/api/v1/cohorts/{cohort.id}/invitations", json={"emails": ["new@example.org"]}
    )
    assert response.status_code == 201, response.json


def test_a_duplicate_pending_invitation_is_409(as_admin):
    cohort = CohortFactory()
    InvitationFactory(cohort=cohort, email="dup@example.org")
    response = as_admin.post(
        f"/api/v1/cohorts/{cohort.id}/invitations", json={"emails": ["DUP@example.org"]}
    )
    assert response.status_code == 409
    assert error(response)["code"] == "duplicate_invitation"
    assert "already has a pending invitation" in error(response)["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"emails": ["not-an-email"]}, "emails"),
        ({"emails": []}, "emails"),
        ({"emails": "a@example.org"}, "emails"),
        ({}, "emails"),
    ],
)
def test_malformed_invitation_bodies_get_422(as_admin, body, field):
    cohort = CohortFactory()
    seq = audit_head_seq()
    response = as_admin.post(f"/api/v1/cohorts/{cohort.id}/invitations", json=body)
    assert response.status_code == 422, response.json
    assert error(response)["details"][field]
    assert events_since(seq) == []


def test_malformed_email_says_what_is_wrong(as_admin):
    cohort = CohortFactory()
    response = as_admin.post(
        f"/api/v1/cohorts/{cohort.id}/invitations", json={"emails": ["ana.example.org"]}
    )
    assert "@-sign" in error(response)["details"]["emails"][0]


def test_bulk_invitations_give_a_result_per_email(as_admin, db):
    cohort = CohortFactory(capacity=4)
    MembershipFactory(cohort=cohort, user__email="member@example.org")
    InvitationFactory(cohort=cohort, email="pending@example.org")
    seq = audit_head_seq()
    emails = [
        "a@example.org",
        "bad email",
        "pending@example.org",
        "member@example.org",
        "b@example.org",
        "c@example.org",
    ]
    response = as_admin.post(f"/api/v1/cohorts/{cohort.id}/invitations", json={"emails": emails})
    assert response.status_code == 201, response.json
    results = response.json["results"]
    assert [(r["email"], r["status"]) for r in results] == [
        ("a@example.org", "sent"),
        ("bad email", "invalid"),
        ("pending@example.org", "duplicate_invitation"),
        ("member@example.org", "already_member"),
        ("b@example.org", "sent"),
        ("c@example.org", "cohort_full"),
    ]
    assert response.json["sent"] == 2
    assert "cohort full: 4 of 4" in results[5]["message"]
    for r in results:
        sent = r["status"] == "sent"
        assert (r["accept_url"] is not None, r["invitation_id"] is not None) == (sent, sent)
    assert events_since(seq) == [("invitation.sent", None)] * 2
    assert count(db, OutboxMessage) == 2


def test_inviting_into_a_draft_cohort_is_409(as_admin):
    cohort = CohortFactory(draft=True)
    for emails in (["a@example.org"], ["a@example.org", "b@example.org"]):
        response = as_admin.post(
            f"/api/v1/cohorts/{cohort.id}/invitations", json={"emails": emails}
        )
        assert response.status_code == 409
        assert error(response)["code"] == "cohort_not_open"


def test_withdrawing_twice_is_409(as_admin):
    invitation = InvitationFactory()
    seq = audit_head_seq()
    first = as_admin.post(f"/api/v1/invitations/{invitation.id}/withdraw")
    assert first.status_code == 200 and first.json["status"] == "withdrawn"
    second = as_admin.post(f"/api/v1/invitations/{invitation.id}/withdraw")
    assert second.status_code == 409
    assert "is withdrawn; only pending invitations" in error(second)["message"]
    assert events_since(seq) == [("invitation.withdrawn", None)]


def test_invitation_list_filters_by_status(as_admin):
    cohort = CohortFactory()
    pending = InvitationFactory(cohort=cohort)
    InvitationFactory(cohort=cohort, withdrawn=True)
    url = f"/api/v1/cohorts/{cohort.id}/invitations"
    assert [i["id"] for i in as_admin.get(f"{url}?status=pending").json] == [pending.id]
    bad = as_admin.get(f"{url}?status=lost")
    assert bad.status_code == 422 and "status" in error(bad)["details"]


# --- accepting -----------------------------------------------------------------------------


def _accept(call, token: str, **body):
    return call().post(
        "/api/v1/invitations/accept",
        json={"token": token, "accept_terms": True, **body},
    )


def test_a_new_artist_accepts_over_the_api(call, db):
    invitation = InvitationFactory(email="nia@example.org")
    terms_id = invitation.cohort.terms_id
    seq = audit_head_seq()

    response = _accept(call, invitation.token, name="Nia", password=NEW_PASSWORD)

    assert response.status_code == 201, response.json
    artist_id = response.json["artist_id"]
    artist = db.session.get(User, artist_id)
    assert (artist.email, artist.role) == ("nia@example.org", "artist")
    assert decide_access(artist_id=artist_id).allowed
    acceptance = db.session.scalars(
        sa.select(TermsAcceptance).where(TermsAcceptance.user_id == artist_id)
    ).one()
    assert acceptance.terms_id == terms_id and acceptance.ip == "127.0.0.1"
    assert [a for a, _ in events_since(seq)] == [
        "user.created",
        "invitation.accepted",
        "terms.accepted",
        "grant.created",
    ]
    assert [aid for _, aid in events_since(seq)[1:]] == [artist_id] * 3
    used = _accept(call, invitation.token, name="Nia", password=NEW_PASSWORD)
    assert used.status_code == 410
    assert error(used)["message"].startswith("This invitation has already been used.")


def test_without_auto_grant_the_artist_joins_without_access(call):
    invitation = InvitationFactory(cohort=CohortFactory(auto_grant=False))
    response = _accept(call, invitation.token, name="Nia", password=NEW_PASSWORD)
    assert response.status_code == 201
    reasons = decide_access(artist_id=response.json["artist_id"]).reasons
    assert [r["code"] for r in reasons] == ["no_active_grant"]
    assert audit_count("grant.created") == 0


def test_an_existing_artist_must_give_their_password(call, db):
    artist = UserFactory(email="back@example.org")
    invitation = InvitationFactory(email="back@example.org")
    for body in ({}, {"password": "not my password"}):
        response = _accept(call, invitation.token, **body)
        assert response.status_code == 422
        assert "already have an account" in error(response)["details"]["password"][0]
    response = _accept(call, invitation.token, password=PASSWORD)
    assert response.status_code == 201 and response.json["artist_id"] == artist.id


def test_accept_terms_false_is_422_and_leaves_the_link_usable(call, db):
    invitation = InvitationFactory()
    seq = audit_head_seq()
    response = _accept(call, invitation.token, name="N", password=NEW_PASSWORD, accept_terms=False)
    assert response.status_code == 422
    assert error(response)["details"]["accept_terms"] == ["Accept the terms to join."]
    assert events_since(seq) == [] and count(db, User) == 0
    assert _accept(call, invitation.token, name="N", password=NEW_PASSWORD).status_code == 201


@pytest.mark.parametrize(
    "traits, words",
    [
        ({"accepted": True}, "This invitation has already been used."),
        ({"expired": True}, "This invitation expired on"),
        ({"withdrawn": True}, "This invitation was withdrawn by the program team."),
    ],
)
def test_used_expired_or_withdrawn_links_are_410(call, db, traits, words):
    invitation = InvitationFactory(**traits)
    seq = audit_head_seq()
    response = _accept(call, invitation.token, name="N", password=NEW_PASSWORD)
    assert response.status_code == 410
    assert error(response)["message"].startswith(words)
    assert events_since(seq) == [] and count(db, User) == 0


def test_an_unknown_link_is_404(call):
    response = _accept(call, "x" * 43, name="N", password=NEW_PASSWORD)
    assert response.status_code == 404
    assert "not valid" in error(response)["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"accept_terms": True}, "token"),
        ({"token": "x" * 43}, "accept_terms"),
        ({"token": "x" * 43, "accept_terms": "perhaps"}, "accept_terms"),
    ],
)
def test_malformed_acceptances_are_422(call, body, field):
    response = call().post("/api/v1/invitations/accept", json=body)
    assert response.status_code == 422 and field in error(response)["details"]


def test_a_refused_acceptance_leaves_no_trace(call, db, monkeypatch):
    """The refusal comes after the user, membership and acceptance were written: the request
    is one transaction, so none of it stays."""
    invitation = InvitationFactory(email="ghost@example.org")

    def refuse(actor, membership, **kwargs):
        raise Conflict("Grant refused for this test.")

    monkeypatch.setattr(access, "grant_access", refuse)
    seq = audit_head_seq()

    response = _accept(call, invitation.token, name="Ghost", password=NEW_PASSWORD)

    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.scalar(sa.select(User).where(User.email == "ghost@example.org")) is None
    assert count(db, Membership) == count(db, TermsAcceptance) == count(db, Grant) == 0
    assert db.session.get(Invitation, invitation.id).status == "pending"
    assert events_since(seq) == []


def test_a_short_password_is_refused_without_a_trace(call, db):
    invitation = InvitationFactory()
    seq = audit_head_seq()
    response = _accept(call, invitation.token, name="N", password="short")
    assert response.status_code == 422 and "password" in error(response)["details"]
    assert count(db, User) == 0 and events_since(seq) == []


def test_closing_over_the_api_ends_access(as_admin, db):
    cohort = CohortFactory()
    member = GrantFactory(membership=MembershipFactory(cohort=cohort)).membership
    InvitationFactory(cohort=cohort)
    member_id = member.user_id
    response = as_admin.post(f"/api/v1/cohorts/{cohort.id}/close")
    assert response.status_code == 200
    assert (response.json["members"], response.json["pending_invitations"]) == (0, 0)
    assert [r["code"] for r in decide_access(artist_id=member_id).reasons] == [
        "no_active_membership"
    ]
    grant = db.session.scalars(sa.select(Grant).where(Grant.user_id == member_id)).one()
    assert grant.revoke_category == "program_end"

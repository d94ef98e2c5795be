"""The compensation API: shapes and status codes, every "Bad input" item of the issue that
concerns contributions (each refusal leaves nothing written), and who may see and do what."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from access_program.compensation import service
from access_program.compensation.models import Contribution
from access_program.db import utcnow
from tests.access import setup_committed_before_requests  # noqa: F401  (autouse)
from tests.compensation import days_ago, entries_of, member, row_counts
from tests.factories import SubmissionFactory, UserFactory
from tests.helpers import audit_head_seq

URL = "/api/v1/contributions"
BUG = {"kind": "bug_report", "severity": "high", "title": "Crash on export"}


@pytest.fixture
def people(db, api_client):
    class People:
        membership = member(bug_high=15000, feedback_hour=6000, marketing_use=50000)
        artist_user = membership.user
        artist = api_client(artist_user)
        other_user = member().user
        other = api_client(other_user)
        staff_user = UserFactory(staff=True)
        staff = api_client(staff_user)
        admin_user = UserFactory(admin=True)
        admin = api_client(admin_user)
        anonymous = api_client()

    return People


def proposed(people, body=BUG) -> int:
    response = people.artist.post(URL, json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


# --- contributions -------------------------------------------------------------------------


def test_an_artist_proposes_and_staff_accept_with_the_computed_amount(db, people):
    cid = proposed(people)
    seq = audit_head_seq()

    response = people.staff.post(f"{URL}/{cid}/accept")

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["status"], body["amount_minor"], body["currency"]) == ("accepted", 15000, "USD")
    assert body["terms_label"] == people.membership.accepted_terms.label
    assert body["decided_by_id"] == people.staff_user.id
    ledger = people.artist.get(f"/api/v1/artists/{people.artist_user.id}/ledger").json
    assert ledger["balance_minor"] == 15000
    assert [(e["kind"], e["contribution_id"]) for e in ledger["entries"]] == [("credit", cid)]
    events = db.session.execute(
        sa.text("SELECT action, artist_id FROM audit_events WHERE seq > :s ORDER BY seq"),
        {"s": seq},
    ).all()
    assert [tuple(e) for e in events] == [("contribution.accepted", people.artist_user.id)]


def test_feedback_hours_proposed_through_the_api(db, people):
    response = people.artist.post(
        URL, json={"kind": "feedback_session", "hours": 1.25, "title": "Call"}
    )

    assert response.status_code == 201
    assert (response.json["minutes"], response.json["hours"]) == (75, 1.25)


def test_staff_propose_on_behalf_of_an_artist(db, people):
    response = people.staff.post(URL, json={**BUG, "artist_id": people.artist_user.id})

    assert response.status_code == 201
    assert response.json["artist_id"] == people.artist_user.id
    assert response.json["proposed_by_id"] == people.staff_user.id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "poem", "title": "x"}, "kind"),
        ({"kind": "feedback_session", "hours": 0, "title": "x"}, "hours"),
        ({"kind": "feedback_session", "hours": -1, "title": "x"}, "hours"),
        ({"kind": "feedback_session", "hours": 24.5, "title": "x"}, "hours"),
        ({"kind": "feedback_session", "hours": "NaN", "title": "x"}, "hours"),
        ({"kind": "feedback_session", "hours": "many", "title": "x"}, "hours"),
        ({"kind": "bug_report", "severity": "apocalyptic", "title": "x"}, "severity"),
        ({"kind": "red_team_finding", "severity": None, "title": "x"}, "severity"),
        ({"kind": ["bug_report"], "severity": "low", "title": "x"}, "kind"),
        ({"kind": "bug_report", "severity": "low", "title": "x", "work_date": "someday"}, None),
    ],
)
def test_bad_proposals_get_422_naming_the_field_and_write_nothing(db, people, body, field):
    before = row_counts()

    response = people.artist.post(URL, json=body)

    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_error"
    if field:
        assert field in response.json["error"]["details"]
    assert row_counts() == before


def test_accepting_a_declined_contribution_is_a_409_naming_its_state(db, people):
    cid = proposed(people)
    response = people.staff.post(f"{URL}/{cid}/decline", json={"reason": "Not reproducible."})
    assert response.status_code == 200
    assert response.json["decline_reason"] == "Not reproducible."
    before = row_counts()

    response = people.staff.post(f"{URL}/{cid}/accept")

    assert response.status_code == 409
    assert response.json["error"]["code"] == "invalid_transition"
    assert "declined" in response.json["error"]["message"]
    assert row_counts() == before


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "  "}])
def test_declining_without_a_reason_is_a_422(db, people, body):
    cid = proposed(people)

    response = people.staff.post(f"{URL}/{cid}/decline", json=body)

    assert response.status_code == 422
    assert "reason" in response.json["error"]["details"]
    assert db.session.get(Contribution, cid).status == "proposed"


def test_an_artist_lists_only_their_own_contributions(db, people):
    mine = proposed(people)
    theirs = people.other.post(URL, json=BUG).json["id"]

    own = people.artist.get(URL, query_string={"artist_id": people.other_user.id})
    everyone = people.staff.get(URL)
    filtered = people.staff.get(URL, query_string={"artist_id": people.other_user.id})
    by_status = people.staff.get(URL, query_string={"status": "accepted"})

    assert [c["id"] for c in own.json] == [mine]
    assert {c["id"] for c in everyone.json} == {mine, theirs}
    assert json.loads(everyone.headers["X-Pagination"])["total"] == 2
    assert [c["id"] for c in filtered.json] == [theirs]
    assert by_status.json == []
    assert people.staff.get(URL, query_string={"kind": "poem"}).status_code == 422


def test_an_artist_cannot_see_another_artists_contribution(db, people):
    theirs = people.other.post(URL, json=BUG).json["id"]

    assert people.artist.get(f"{URL}/{theirs}").status_code == 404
    assert people.other.get(f"{URL}/{theirs}").status_code == 200
    assert people.staff.get(f"{URL}/{theirs}").status_code == 200
    assert people.staff.get(f"{URL}/99999999999").status_code == 404


def test_an_artist_cannot_propose_for_someone_else(db, people):
    response = people.artist.post(URL, json={**BUG, "artist_id": people.other_user.id})

    assert response.status_code == 403


# --- feedback sessions, marketing uses, adjustments ----------------------------------------


def test_staff_log_a_feedback_session_for_many_artists(db, people):
    body = {
        "title": "Round table",
        "held_on": days_ago(1).date().isoformat(),
        "hours": 2,
        "artist_ids": [people.artist_user.id, people.other_user.id],
    }

    response = people.staff.post("/api/v1/feedback-sessions", json=body)

    assert response.status_code == 201, response.json
    assert (response.json["minutes"], response.json["hours"]) == (120, 2)
    assert [(c["artist_id"], c["amount_minor"]) for c in response.json["contributions"]] == [
        (people.artist_user.id, 12000),
        (people.other_user.id, 10000),
    ]


def test_a_feedback_session_naming_unknown_artists_is_a_422_that_writes_nothing(db, people):
    before = row_counts()
    body = {
        "title": "Round table",
        "held_on": days_ago(1).date().isoformat(),
        "hours": 2,
        "artist_ids": [people.artist_user.id, 987654, people.staff_user.id],
    }

    response = people.staff.post("/api/v1/feedback-sessions", json=body)

    assert response.status_code == 422
    assert response.json["error"]["details"]["artist_ids"] == [
        "No artist 987654.",
        f"No artist {people.staff_user.id}.",
    ]
    assert row_counts() == before


@pytest.mark.parametrize("hours", [0, -3, 25])
def test_a_feedback_session_with_hours_out_of_range_is_a_422(db, people, hours):
    body = {
        "title": "Round table",
        "held_on": days_ago(1).date().isoformat(),
        "hours": hours,
        "artist_ids": [people.artist_user.id],
    }

    response = people.staff.post("/api/v1/feedback-sessions", json=body)

    assert response.status_code == 422
    assert "hours" in response.json["error"]["details"]


def test_staff_record_a_marketing_use_of_an_approved_output(db, people):
    submission = SubmissionFactory(membership=people.membership)
    body = {"submission_id": submission.id, "channel": "Launch trailer", "used_on": "2020-01-01"}

    refused = people.staff.post("/api/v1/marketing-uses", json=body)
    assert refused.status_code == 409  # not approved yet
    submission.status = "approved"
    db.session.commit()
    too_early = people.staff.post("/api/v1/marketing-uses", json=body)
    assert too_early.status_code == 409  # before the artist accepted any terms
    body["used_on"] = utcnow().date().isoformat()
    response = people.staff.post("/api/v1/marketing-uses", json=body)

    assert response.status_code == 201, response.json
    assert (response.json["kind"], response.json["amount_minor"]) == ("marketing_use", 50000)
    assert response.json["artist_id"] == people.artist_user.id


@pytest.mark.usefixtures("adjustment_entries")
def test_an_admin_adjusts_a_balance_either_way(db, people):
    url = "/api/v1/adjustments"
    artist_id = people.artist_user.id

    up = people.admin.post(
        url, json={"artist_id": artist_id, "amount_minor": 700, "reason": "Gift"}
    )
    down = people.admin.post(
        url, json={"artist_id": artist_id, "amount_minor": -200, "reason": "Fix"}
    )

    assert (up.status_code, down.status_code) == (201, 201)
    assert (up.json["kind"], up.json["amount_minor"]) == ("adjustment", 700)
    ledger = people.admin.get(f"/api/v1/artists/{artist_id}/ledger").json
    assert ledger["balance_minor"] == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_minor": 500}, "reason"),
        ({"amount_minor": 500, "reason": " "}, "reason"),
        ({"amount_minor": 0, "reason": "Nothing"}, "amount_minor"),
        ({"amount_minor": 2.5, "reason": "Half"}, "amount_minor"),
        ({"reason": "No amount"}, "amount_minor"),
    ],
)
def test_an_adjustment_without_a_reason_or_of_0_is_a_422(db, people, body, field):
    before = row_counts()

    response = people.admin.post(
        "/api/v1/adjustments", json={"artist_id": people.artist_user.id, **body}
    )

    assert response.status_code == 422
    assert field in response.json["error"]["details"]
    assert row_counts() == before


# --- who may do what -----------------------------------------------------------------------


STAFF_ONLY = [
    ("/api/v1/contributions/{cid}/accept", {}),
    ("/api/v1/contributions/{cid}/decline", {"reason": "No."}),
    (
        "/api/v1/feedback-sessions",
        {"title": "T", "held_on": "2020-01-01", "hours": 1, "artist_ids": [1]},
    ),
    ("/api/v1/marketing-uses", {"submission_id": 1, "channel": "C", "used_on": "2020-01-01"}),
    ("/api/v1/adjustments", {"artist_id": 1, "amount_minor": 1, "reason": "R"}),
    ("/api/v1/ledger-entries/1/reverse", {"reason": "R"}),
]


@pytest.mark.parametrize(("url", "body"), STAFF_ONLY)
def test_staff_endpoints_are_403_for_artists(db, people, url, body):
    cid = proposed(people)
    before = row_counts()

    response = people.artist.post(url.format(cid=cid), json=body)

    assert response.status_code == 403
    assert row_counts() == before


@pytest.mark.parametrize(
    "url", ["/api/v1/adjustments", "/api/v1/ledger-entries/1/reverse"], ids=["adjust", "reverse"]
)
def test_adjustments_and_corrections_are_403_for_staff(db, people, url):
    response = people.staff.post(
        url, json={"artist_id": people.artist_user.id, "amount_minor": 1, "reason": "R"}
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    "path", ["/ledger", "/statement", "/statement?format=csv"], ids=["ledger", "json", "csv"]
)
def test_an_artist_cannot_read_another_artists_ledger_or_statement(db, people, path):
    other = people.other_user.id

    assert people.artist.get(f"/api/v1/artists/{other}{path}").status_code == 404
    assert people.other.get(f"/api/v1/artists/{other}{path}").status_code == 200
    assert people.staff.get(f"/api/v1/artists/{other}{path}").status_code == 200
    assert people.staff.get(f"/api/v1/artists/{people.staff_user.id}{path}").status_code == 404
    assert people.anonymous.get(f"/api/v1/artists/{other}{path}").status_code == 401


def test_a_service_token_cannot_propose(db, people, api_client):
    tool = api_client(service="tool", scopes=["api"])

    assert tool.post(URL, json=BUG).status_code == 403


# --- ledger, statement, export -------------------------------------------------------------


def test_the_ledger_shape_and_pages(db, people):
    artist_id = people.artist_user.id
    for _ in range(3):
        people.staff.post(f"{URL}/{proposed(people)}/accept")

    response = people.artist.get(f"/api/v1/artists/{artist_id}/ledger?page=2&page_size=2")

    assert response.status_code == 200
    body = response.json
    assert (body["balance_minor"], body["currency"]) == (45000, "USD")
    assert body["pagination"] == {"page": 2, "page_size": 2, "total": 3, "total_pages": 2}
    [entry] = body["entries"]
    assert entry["terms_label"] == people.membership.accepted_terms.label
    assert people.artist.get(f"/api/v1/artists/{artist_id}/ledger?page_size=500").status_code == 422


def test_the_statement_as_json_and_as_a_csv_attachment(db, people):
    artist_id = people.artist_user.id
    people.staff.post(f"{URL}/{proposed(people)}/accept")
    today = utcnow().date().isoformat()
    url = f"/api/v1/artists/{artist_id}/statement?from={today}&to={today}"

    as_json = people.artist.get(url)
    as_csv = people.artist.get(url + "&format=csv")

    assert as_json.status_code == 200
    assert (as_json.json["from"], as_json.json["to"]) == (today, today)
    assert as_json.json["closing_balance_minor"] == 15000
    assert as_json.json["entries"][0]["terms_label"] == people.membership.accepted_terms.label
    assert as_csv.status_code == 200
    assert as_csv.mimetype == "text/csv"
    assert as_csv.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert [r["row"] for r in rows] == ["opening", "entry", "closing"]


@pytest.mark.parametrize(
    "query", ["from=yesterday", "to=2026-02-30", "format=xml", "from=2026-03-10&to=2026-03-01"]
)
def test_a_bad_statement_query_is_a_422(db, people, query):
    response = people.artist.get(f"/api/v1/artists/{people.artist_user.id}/statement?{query}")

    assert response.status_code == 422


def test_an_artist_downloads_all_their_data_as_one_json_file(db, people):
    cid = proposed(people)
    people.staff.post(f"{URL}/{cid}/accept")

    response = people.artist.get("/api/v1/me/export")

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    data = json.loads(response.get_data(as_text=True))
    assert data["artist"]["id"] == people.artist_user.id
    assert [c["id"] for c in data["contributions"]] == [cid]
    assert data["ledger"]["balance_minor"] == 15000
    assert {"requests", "payouts", "audit_record"} <= data.keys()
    assert people.staff.get("/api/v1/me/export").status_code == 403


# --- the approval hook ---------------------------------------------------------------------


@pytest.mark.usefixtures("approval_hook")
def test_approving_a_request_through_the_api_credits_the_approved_output_fee(db, people):
    membership = member(approved_output=1200)
    submission = SubmissionFactory(membership=membership)
    db.session.commit()
    url = f"/api/v1/submissions/{submission.id}"

    assert people.staff.post(f"{url}/claim").status_code == 200
    decided = people.staff.post(f"{url}/decision", json={"outcome": "approved"})

    assert decided.status_code == 201, decided.json
    [entry] = entries_of(membership.user_id)
    assert (entry.kind, entry.amount_minor) == ("credit", 1200)
    assert entry.contribution.kind == "approved_output"
    assert service.balance(membership.user_id) == (1200, "USD")

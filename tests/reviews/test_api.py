"""The requests API: status codes, shapes, who sees what, and every item of the issue's
"Bad input" list (each refusal leaves nothing written)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.db import utcnow
from access_program.outbox.models import OutboxMessage
from access_program.reviews.models import Appeal, Decision, Submission
from tests.factories import CohortFactory, MembershipFactory, SubmissionFactory, UserFactory
from tests.helpers import audit_head_seq

BODY = {
    "title": "Night swim",
    "description": "Three minutes of a lake at night.",
    "output_ref": "gen://outputs/123",
    "output_sha256": "ab" * 32,
    "intended_use": "festival",
    "venue": "Berlinale Shorts",
    "planned_date": "2031-02-14",
}
REASON = "Frame 3 shows the unreleased timeline feature."
STATEMENT = "The feature was announced on the public blog last week."
URL = "/api/v1/submissions"


def rows(db) -> dict[str, int]:
    """How many rows each table touched by requests holds."""
    return {
        model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Submission, Decision, Appeal, OutboxMessage, AuditEvent)
    }


@pytest.fixture
def unchanged(db):
    """Asserts at the end of the block that nothing was written."""

    class Check:
        def __enter__(self):
            self.before = rows(db)

        def __exit__(self, *exc):
            assert rows(db) == self.before

    return Check


def events_since(db, seq: int) -> list[AuditEvent]:
    """The request's own events (an approval's fee credit is compensation's event)."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.seq > seq, AuditEvent.subject_type == "submission")
            .order_by(AuditEvent.seq)
        )
    )


def assert_one_event(db, seq: int, action: str, artist_id: int) -> None:
    events = events_since(db, seq)
    assert [(e.action, e.artist_id) for e in events] == [(action, artist_id)]


@pytest.fixture
def people(api_client):
    """An artist (active member), three staff members and an admin, each with a client."""

    class People:
        membership = MembershipFactory(cohort=CohortFactory(review_hours=72))
        artist_user = membership.user
        artist = api_client(artist_user)
        a_user, b_user, c_user = (UserFactory(staff=True) for _ in range(3))
        a, b, c = api_client(a_user), api_client(b_user), api_client(c_user)
        admin = api_client(UserFactory(admin=True))
        other = api_client(MembershipFactory().user)

    return People


def submit(people) -> int:
    response = people.artist.post(URL, json=BODY)
    assert response.status_code == 201, response.json
    return response.json["id"]


def claimed(people) -> int:
    sid = submit(people)
    assert people.a.post(f"{URL}/{sid}/claim").status_code == 200
    return sid


def rejected(people) -> int:
    """Proposed by A, confirmed by B (the two-person rule is on by default)."""
    sid = claimed(people)
    refusal = {"outcome": "rejected", "reason": REASON, "clauses": ["P2"]}
    assert people.a.post(f"{URL}/{sid}/decision", json=refusal).status_code == 201
    assert people.b.post(f"{URL}/{sid}/confirm-rejection", json={}).status_code == 200
    return sid


def appealed(people) -> int:
    sid = rejected(people)
    response = people.artist.post(f"{URL}/{sid}/appeal", json={"statement": STATEMENT})
    assert response.status_code == 201, response.json
    return sid


# --- the journey ---------------------------------------------------------------------------


def test_the_whole_journey_writes_one_event_per_step_for_the_artist(db, people):
    artist_id = people.artist_user.id
    steps = [
        (people.artist, "", BODY, 201, "submission.submitted"),
        (people.a, "/claim", None, 200, "submission.claimed"),
        (
            people.a,
            "/decision",
            {"outcome": "rejected", "reason": REASON, "clauses": ["P2"]},
            201,
            "submission.rejection_proposed",
        ),
        (people.b, "/confirm-rejection", {"reason": "Agreed."}, 200, "submission.decided"),
        (people.artist, "/appeal", {"statement": STATEMENT}, 201, "submission.appealed"),
        (
            people.c,
            "/appeal/decision",
            {"outcome": "granted", "reason": "Announced publicly on the blog."},
            200,
            "submission.appeal_decided",
        ),
    ]
    sid = None
    for who, path, body, status, action in steps:
        seq = audit_head_seq()
        url = URL if sid is None else f"{URL}/{sid}{path}"
        response = who.post(url, json=body)
        assert response.status_code == status, (path, response.json)
        sid = sid or response.json["id"]
        assert_one_event(db, seq, action, artist_id)

    detail = people.artist.get(f"{URL}/{sid}").json
    assert detail["status"] == "appeal_granted"
    assert detail["allowed_uses"] == ["festival"]
    assert [h["action"] for h in detail["history"]] == [s[4] for s in steps]
    proposal = detail["history"][2]
    assert proposal["why"] == REASON
    assert proposal["clauses"] == [
        {
            "code": "P2",
            "title": "No confidential features",
            "text": "Do not show unreleased features.",
        }
    ]
    assert detail["appeal"]["outcome"] == "granted"
    (decision,) = detail["decisions"]
    assert decision["confirmed_by_id"] == people.b_user.id
    subjects = [
        m.subject
        for m in db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.user_id == artist_id)
        )
    ]
    assert subjects == [
        "Not approved: Night swim",
        "Appeal granted: you may share the output: Night swim",
    ]


def test_submitting_answers_with_the_request_and_its_deadline(db, people):
    response = people.artist.post(URL, json=BODY)

    assert response.status_code == 201
    body = response.json
    assert body["status"] == "submitted"
    assert body["artist_id"] == people.artist_user.id
    assert body["planned_date"] == "2031-02-14"
    assert body["overdue"] is False
    due = dt.datetime.fromisoformat(body["due_at"])
    submitted = dt.datetime.fromisoformat(body["submitted_at"])
    assert due - submitted == dt.timedelta(hours=72)


def test_approvals_record_the_allowed_uses(db, people):
    sid = claimed(people)
    response = people.a.post(
        f"{URL}/{sid}/decision",
        json={"outcome": "approved", "allowed_uses": ["festival", "portfolio"]},
    )
    assert response.status_code == 201
    assert response.json["allowed_uses"] == ["festival", "portfolio"]
    assert people.artist.get(f"{URL}/{sid}").json["allowed_uses"] == ["festival", "portfolio"]


def test_a_second_reviewer_may_approve_a_proposed_rejection(db, people):
    sid = claimed(people)
    refusal = {"outcome": "rejected", "reason": REASON, "clauses": ["P2"]}
    assert people.a.post(f"{URL}/{sid}/decision", json=refusal).json["state"] == "proposed"
    assert people.artist.get(f"{URL}/{sid}").json["status"] == "in_review"

    response = people.b.post(f"{URL}/{sid}/decision", json={"outcome": "approved"})

    assert response.status_code == 201
    detail = people.artist.get(f"{URL}/{sid}").json
    assert detail["status"] == "approved"
    assert [d["state"] for d in detail["decisions"]] == ["overturned", "final"]


def test_without_the_two_person_rule_a_rejection_is_final_at_once(db, people):
    people.membership.cohort.two_person_rule = False
    sid = claimed(people)
    response = people.a.post(
        f"{URL}/{sid}/decision", json={"outcome": "rejected", "reason": REASON, "clauses": ["P2"]}
    )
    assert response.json["state"] == "final"
    detail = people.artist.get(f"{URL}/{sid}").json
    assert detail["status"] == "rejected"
    assert detail["appeal_deadline"] is not None


# --- bad input: 422 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"intended_use": "billboard"}, "intended_use"),
        ({"planned_date": "next spring"}, "planned_date"),
        ({"planned_date": "2031-02-30"}, "planned_date"),
        ({"title": None}, "title"),
        ({"output_sha256": "not-a-hash"}, "output_sha256"),
    ],
    ids=["unknown intended use", "date not a date", "impossible date", "no title", "bad hash"],
)
def test_invalid_requests_get_422_per_field_and_write_nothing(db, people, unchanged, change, field):
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    with unchanged():
        response = people.artist.post(URL, json=body)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]


def test_revising_with_an_invalid_body_is_422(db, people, unchanged):
    sid = claimed(people)
    people.a.post(
        f"{URL}/{sid}/decision",
        json={"outcome": "changes_requested", "reason": REASON, "clauses": ["P1"]},
    )
    with unchanged():
        response = people.artist.post(
            f"{URL}/{sid}/revise", json={**BODY, "intended_use": "billboard"}
        )
    assert response.status_code == 422
    assert "intended_use" in response.json["error"]["details"]


@pytest.mark.parametrize("outcome", ["changes_requested", "rejected"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"clauses": ["P1"]}, "reason"),
        ({"reason": "Too short.", "clauses": ["P1"]}, "reason"),
        ({"reason": REASON}, "clauses"),
        ({"reason": REASON, "clauses": []}, "clauses"),
    ],
    ids=["missing reason", "short reason", "no clause", "empty clauses"],
)
def test_refusals_without_reason_or_clause_are_422(db, people, unchanged, outcome, body, field):
    sid = claimed(people)
    with unchanged():
        response = people.a.post(f"{URL}/{sid}/decision", json={"outcome": outcome, **body})
    assert response.status_code == 422
    assert field in response.json["error"]["details"]


def test_an_unknown_clause_is_422_naming_it(db, people, unchanged):
    sid = claimed(people)
    with unchanged():
        response = people.a.post(
            f"{URL}/{sid}/decision",
            json={"outcome": "rejected", "reason": REASON, "clauses": ["P2", "P404"]},
        )
    assert response.status_code == 422
    assert "P404" in response.json["error"]["details"]["clauses"][0]


def test_an_unknown_outcome_or_allowed_use_is_422(db, people, unchanged):
    sid = claimed(people)
    with unchanged():
        bad_outcome = people.a.post(f"{URL}/{sid}/decision", json={"outcome": "maybe"})
        bad_use = people.a.post(
            f"{URL}/{sid}/decision", json={"outcome": "approved", "allowed_uses": ["billboard"]}
        )
    assert bad_outcome.status_code == bad_use.status_code == 422


def test_an_appeal_decision_without_reason_is_422(db, people, unchanged):
    sid = appealed(people)
    with unchanged():
        missing = people.c.post(f"{URL}/{sid}/appeal/decision", json={"outcome": "granted"})
        short = people.c.post(
            f"{URL}/{sid}/appeal/decision", json={"outcome": "granted", "reason": "ok"}
        )
    assert missing.status_code == short.status_code == 422


# --- bad input: 409 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "path", "body"),
    [
        ("artist", "/withdraw", None),
        ("artist", "/revise", BODY),
        ("artist", "/appeal", {"statement": STATEMENT}),
        ("a", "/claim", None),
        ("b", "/confirm-rejection", {}),
        ("c", "/appeal/decision", {"outcome": "granted", "reason": REASON}),
    ],
)
def test_an_illegal_transition_is_409_naming_the_state(db, people, unchanged, who, path, body):
    sid = claimed(people)
    assert people.a.post(f"{URL}/{sid}/decision", json={"outcome": "approved"}).status_code == 201
    with unchanged():
        response = getattr(people, who).post(f"{URL}/{sid}{path}", json=body)
    assert response.status_code == 409
    assert "approved" in response.json["error"]["message"]
    assert response.json["error"]["details"]["status"] == "approved"


def test_deciding_an_already_decided_request_is_409(db, people, unchanged):
    sid = claimed(people)
    people.a.post(f"{URL}/{sid}/decision", json={"outcome": "approved"})
    with unchanged():
        again = people.a.post(
            f"{URL}/{sid}/decision",
            json={"outcome": "rejected", "reason": REASON, "clauses": ["P1"]},
        )
        other = people.b.post(f"{URL}/{sid}/decision", json={"outcome": "approved"})
    assert again.status_code == other.status_code == 409
    assert again.json["error"]["code"] == "already_decided"
    assert "already approved" in again.json["error"]["message"]


def test_deciding_a_request_claimed_by_someone_else_is_409(db, people, unchanged):
    sid = claimed(people)  # by A
    with unchanged():
        response = people.b.post(f"{URL}/{sid}/decision", json={"outcome": "approved"})
        claim = people.b.post(f"{URL}/{sid}/claim")
    assert response.status_code == claim.status_code == 409
    assert response.json["error"]["code"] == claim.json["error"]["code"] == "already_claimed"


def test_a_second_appeal_is_409(db, people, unchanged):
    sid = appealed(people)
    with unchanged():
        response = people.artist.post(f"{URL}/{sid}/appeal", json={"statement": STATEMENT})
    assert response.status_code == 409
    assert "one appeal" in response.json["error"]["message"]


def test_an_appeal_after_the_window_is_409(db, people, unchanged):
    sid = rejected(people)
    decision = db.session.scalar(sa.select(Decision).where(Decision.submission_id == sid))
    decision.decided_at = decision.confirmed_at = utcnow() - dt.timedelta(days=15)
    db.session.commit()
    with unchanged():
        response = people.artist.post(f"{URL}/{sid}/appeal", json={"statement": STATEMENT})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "appeal_window_closed"


# --- bad input: 403 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/claim", None),
        ("/decision", {"outcome": "approved"}),
        ("/confirm-rejection", {}),
        ("/appeal/decision", {"outcome": "granted", "reason": REASON}),
    ],
)
def test_an_artist_deciding_is_403(db, people, unchanged, path, body):
    sid = submit(people)
    with unchanged():
        own = people.artist.post(f"{URL}/{sid}{path}", json=body)
        someone_elses = people.other.post(f"{URL}/{sid}{path}", json=body)
    assert own.status_code == someone_elses.status_code == 403


def test_staff_do_not_submit_or_act_for_the_artist(db, people, unchanged):
    sid = submit(people)
    with unchanged():
        assert people.a.post(URL, json=BODY).status_code == 403
        assert people.a.post(f"{URL}/{sid}/withdraw").status_code == 403


def test_the_proposer_confirming_their_own_rejection_is_403(db, people, unchanged):
    sid = claimed(people)
    people.a.post(
        f"{URL}/{sid}/decision", json={"outcome": "rejected", "reason": REASON, "clauses": ["P2"]}
    )
    with unchanged():
        response = people.a.post(f"{URL}/{sid}/confirm-rejection", json={})
    assert response.status_code == 403
    assert people.artist.get(f"{URL}/{sid}").json["status"] == "in_review"


@pytest.mark.parametrize("who", ["a", "b"], ids=["proposer", "confirmer"])
def test_a_rejection_participant_deciding_the_appeal_is_403(db, people, unchanged, who):
    sid = appealed(people)
    with unchanged():
        response = getattr(people, who).post(
            f"{URL}/{sid}/appeal/decision", json={"outcome": "granted", "reason": REASON}
        )
    assert response.status_code == 403
    assert "took part" in response.json["error"]["message"]


# --- bad input: 404 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "", None),
        ("post", "/revise", BODY),
        ("post", "/withdraw", None),
        ("post", "/appeal", {"statement": STATEMENT}),
    ],
)
def test_another_artists_request_is_404(db, people, unchanged, method, path, body):
    sid = rejected(people) if path == "/appeal" else submit(people)
    with unchanged():
        response = getattr(people.other, method)(f"{URL}/{sid}{path}", json=body)
        missing = getattr(people.other, method)(f"{URL}/999999{path}", json=body)
    assert response.status_code == missing.status_code == 404  # existence does not leak
    assert response.json["error"]["message"] == f"No request {sid}."


def test_an_unknown_request_is_404_for_staff(db, people):
    for sid in (999999, 2**40):  # the second fits no database id column
        assert people.a.get(f"{URL}/{sid}").status_code == 404
        assert people.a.post(f"{URL}/{sid}/claim").status_code == 404


def test_without_a_token_it_is_401(db, api_client):
    assert api_client().get(URL).status_code == 401
    assert api_client().post(URL, json=BODY).status_code == 401


# --- lists and the queue -------------------------------------------------------------------


def test_artists_list_their_own_requests_and_staff_all(db, people):
    mine = submit(people)
    theirs = SubmissionFactory().id

    artist_ids = [r["id"] for r in people.artist.get(URL).json]
    staff_ids = [r["id"] for r in people.a.get(URL).json]

    assert artist_ids == [mine]
    assert {mine, theirs} <= set(staff_ids)
    assert people.artist.get(f"{URL}/{mine}").status_code == 200
    assert people.a.get(f"{URL}/{theirs}").status_code == 200


def test_the_list_filters_by_status_cohort_use_and_overdue(db, people):
    cohort = people.membership.cohort
    overdue = SubmissionFactory(membership=people.membership, overdue=True)
    press = SubmissionFactory(membership=people.membership, intended_use="press")
    elsewhere = SubmissionFactory()
    decided = claimed(people)
    people.a.post(f"{URL}/{decided}/decision", json={"outcome": "approved"})

    def ids(**query):
        response = people.a.get(URL, query_string=query)
        assert response.status_code == 200, response.json
        return {r["id"] for r in response.json}

    assert ids(cohort_id=cohort.id) == {overdue.id, press.id, decided}
    assert ids(cohort_id=elsewhere.cohort_id) == {elsewhere.id}
    assert ids(status="approved") == {decided}
    assert ids(intended_use="press") == {press.id}
    assert ids(overdue="true") == {overdue.id}
    assert overdue.id not in ids(overdue="false")
    # The artist's own list takes the same filters.
    own = people.artist.get(URL, query_string={"overdue": "true"}).json
    assert [r["id"] for r in own] == [overdue.id]
    assert own[0]["overdue"] is True


def test_bad_filters_are_422(db, people):
    assert people.a.get(URL, query_string={"status": "lost"}).status_code == 422
    assert people.a.get(URL, query_string={"intended_use": "x"}).status_code == 422
    assert people.a.get(URL, query_string={"cohort_id": "first"}).status_code == 422


def test_the_queue_lists_open_requests_and_appeals_soonest_deadline_first(db, people):
    now = utcnow()
    later = SubmissionFactory(submitted_at=now - dt.timedelta(hours=1))
    overdue = SubmissionFactory(overdue=True)
    soon = SubmissionFactory(submitted_at=now - dt.timedelta(hours=70))
    appeal = appealed(people)
    approved = claimed(people)
    people.a.post(f"{URL}/{approved}/decision", json={"outcome": "approved"})
    SubmissionFactory(status="withdrawn", due_at=None, queue_at=None)

    response = people.a.get("/api/v1/review-queue")

    assert response.status_code == 200
    listed = [(r["id"], r["status"], r["overdue"]) for r in response.json]
    assert listed == [
        (overdue.id, "submitted", True),
        (soon.id, "submitted", False),
        (later.id, "submitted", False),
        (appeal, "appealed", False),
    ]
    filtered = people.a.get("/api/v1/review-queue", query_string={"status": "appealed"}).json
    assert [r["id"] for r in filtered] == [appeal]


def test_the_queue_is_for_staff(db, people):
    assert people.artist.get("/api/v1/review-queue").status_code == 403


def test_the_outbox_is_for_admins(db, people):
    sid = claimed(people)
    people.a.post(
        f"{URL}/{sid}/decision",
        json={"outcome": "changes_requested", "reason": REASON, "clauses": ["P1", "P2"]},
    )

    assert people.artist.get("/api/v1/outbox").status_code == 403
    assert people.a.get("/api/v1/outbox").status_code == 403
    response = people.admin.get("/api/v1/outbox")

    assert response.status_code == 200
    (email,) = [m for m in response.json if m["user_id"] == people.artist_user.id]
    assert email["to_email"] == people.artist_user.email
    assert REASON in email["body"]
    assert "P1 — No real people" in email["body"]
    assert "P2 — No confidential features" in email["body"]

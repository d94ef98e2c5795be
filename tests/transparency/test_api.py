"""GET /api/v1/transparency: public, aggregate, exact program-wide, masked per cohort."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from access_program.audit.service import head
from access_program.db import db as _db
from access_program.db import utcnow
from tests.factories import (
    CohortFactory,
    DecisionFactory,
    GrantFactory,
    InvitationFactory,
    MembershipFactory,
    PauseFactory,
    SubmissionFactory,
)
from tests.transparency import (
    COHORT_PAUSE_REASON,
    PROGRAM_PAUSE_REASON,
    build_dataset,
    hours,
)

URL = "/api/v1/transparency"


def report(api_client, **query) -> dict:
    response = api_client().get(URL, query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def test_answers_without_a_token_and_is_documented_as_public(db, api_client):
    response = api_client().get(URL)

    assert response.status_code == 200
    assert response.json["cohort"] is None
    assert response.json["small_counts_masked"] is False
    spec = api_client().get("/api/v1/openapi.json").json
    operation = spec["paths"][URL]["get"]
    assert operation["security"] == []
    assert {p["name"] for p in operation["parameters"]} == {"cohort_id"}


def test_an_empty_program_reports_zeros_and_no_shares(db, api_client):
    body = report(api_client)

    assert body["invitations"] == {
        "sent": 0, "pending": 0, "accepted": 0, "declined": 0, "expired": 0, "withdrawn": 0,
    }  # fmt: skip
    assert body["requests"]["median_hours_to_decision"] is None
    assert body["requests"]["share_decided_within_deadline"] is None
    assert body["appeals"]["share_granted"] is None
    assert body["money"] == {
        "credited_by_kind": [], "credited_total": [], "paid": [],
        "artists_paid": 0, "artists": 0, "share_of_artists_paid": None,
    }  # fmt: skip
    assert body["pauses"] == [] and body["cited_clauses"] == []


def test_program_wide_figures_are_exact(dataset, api_client):
    body = report(api_client)

    assert body["invitations"] == {
        "sent": 12, "pending": 3, "accepted": 5, "declined": 1, "expired": 2, "withdrawn": 1,
    }  # fmt: skip
    assert body["members"] == {"active": 6, "total": 7}
    assert body["revocations"] == {
        "total": 5,
        "by_category": {
            "misconduct": 1, "inactivity": 1, "artist_request": 1, "program_end": 1, "other": 1,
        },
    }  # fmt: skip
    requests = body["requests"]
    assert requests["received"] == 5
    assert {k: v for k, v in requests["outcomes"].items() if v} == {
        "approved": 2, "appeal_granted": 1, "deemed_approved": 1, "submitted": 1,
    }  # fmt: skip
    assert requests["decisions"] == 5  # 10, 20, 30, 73 and 100 hours; the proposal is not one
    assert requests["median_hours_to_decision"] == 30.0
    assert requests["p90_hours_to_decision"] == 89.2  # 73 + 0.6 × (100 − 73)
    assert requests["decided_within_deadline"] == 3
    assert requests["share_decided_within_deadline"] == 0.6
    assert requests["deemed_approved"] == 1
    assert requests["escalated"] == 0
    assert body["appeals"] == {
        "filed": 1, "pending": 0, "decided": 1, "granted": 1, "upheld": 0, "share_granted": 1.0,
    }  # fmt: skip
    assert body["cited_clauses"] == [
        {"code": "P1", "title": "No real people", "citations": 2},
        {"code": "P2", "title": "No confidential features", "citations": 1},
    ]


def test_money_is_credited_by_kind_net_of_corrections_and_paid_net_of_reversals(
    dataset, api_client
):
    money = report(api_client)["money"]

    credited = {row["kind"]: row["amount_minor"] for row in money["credited_by_kind"]}
    assert credited == {
        "feedback_session": 5000, "bug_report": 2000, "red_team_finding": 0,
        "marketing_use": 50000, "approved_output": 0, "stipend": 25000, "adjustment": 0,
    }  # fmt: skip
    assert {row["currency"] for row in money["credited_by_kind"]} == {"USD"}
    assert money["credited_total"] == [{"currency": "USD", "amount_minor": 82000}]
    # $520 + $50 + ($250 − $50 reversed); a failed and a fully reversed payout paid nothing.
    assert money["paid"] == [
        {"currency": "USD", "amount_minor": 77000, "median_per_paid_artist_minor": 20000}
    ]
    assert money["artists_paid"] == 3
    assert money["artists"] == 7
    assert money["share_of_artists_paid"] == 0.4286


def test_pauses_have_dates_durations_and_reasons(dataset, api_client):
    pauses = report(api_client)["pauses"]

    assert [p["reason"] for p in pauses] == [COHORT_PAUSE_REASON, PROGRAM_PAUSE_REASON]
    ongoing, ended = pauses
    assert ended["scope"] == "global" and ended["cohort_name"] is None
    assert ended["duration_hours"] == 6.0
    assert ended["ongoing"] is False and ended["ended_at"] is not None
    assert ongoing["scope"] == "cohort" and ongoing["cohort_name"] == "Borealis"
    assert ongoing["ongoing"] is True and ongoing["ended_at"] is None
    assert ongoing["expected_end_at"] is not None
    assert 1.9 <= ongoing["duration_hours"] <= 2.1
    assert set(ended) == {
        "scope", "cohort_name", "reason", "started_at", "expected_end_at", "ended_at",
        "ongoing", "duration_hours",
    }  # fmt: skip


def test_a_cohort_report_masks_counts_from_1_to_4_but_not_0_or_5(dataset, api_client):
    body = report(api_client, cohort_id=dataset.aurora.id)

    assert body["cohort"] == {"id": dataset.aurora.id, "name": "Aurora", "status": "open"}
    assert body["small_counts_masked"] is True
    # The total beside a "<5" is withheld (null): 10 sent would tell 5 accepted + three "<5"s.
    assert body["invitations"] == {
        "sent": None, "pending": "<5", "accepted": 5, "declined": "<5", "expired": "<5",
        "withdrawn": 0,
    }  # fmt: skip
    assert body["members"] == {"active": 5, "total": 6}
    assert body["revocations"]["total"] is None  # 5 would make each of the five "<5"s a 1
    assert set(body["revocations"]["by_category"].values()) == {"<5"}
    requests = body["requests"]
    assert requests["received"] is None and requests["decisions"] == 5
    assert requests["outcomes"]["approved"] == "<5"
    assert requests["outcomes"]["rejected"] == 0
    assert requests["deemed_approved"] == requests["outcomes"]["deemed_approved"] == "<5"
    assert requests["decided_within_deadline"] == "<5"
    # 3 of 5 would tell the masked count: withheld. Five decisions are enough for the hours.
    assert requests["share_decided_within_deadline"] is None
    assert requests["median_hours_to_decision"] == 30.0
    assert requests["p90_hours_to_decision"] == 89.2
    assert body["appeals"] == {
        "filed": None, "pending": 0, "decided": None, "granted": "<5", "upheld": 0,
        "share_granted": None,
    }  # fmt: skip
    assert [(c["code"], c["citations"]) for c in body["cited_clauses"]] == [
        ("P1", "<5"),
        ("P2", "<5"),
    ]
    money = body["money"]
    # Two artists paid, one artist for each kind credited: no amount is shown.
    assert money["paid"] == [
        {"currency": "USD", "amount_minor": None, "median_per_paid_artist_minor": None}
    ]
    credited = {row["kind"]: row["amount_minor"] for row in money["credited_by_kind"]}
    assert credited == {
        "feedback_session": None, "bug_report": None, "red_team_finding": 0,
        "marketing_use": None, "approved_output": 0, "stipend": 0, "adjustment": 0,
    }  # fmt: skip
    assert money["credited_total"] == [{"currency": "USD", "amount_minor": None}]
    assert (money["artists_paid"], money["artists"], money["share_of_artists_paid"]) == (
        "<5",
        6,
        None,
    )
    assert [p["reason"] for p in body["pauses"]] == [PROGRAM_PAUSE_REASON]


def test_a_small_cohort_shows_its_own_pause_and_the_programs(dataset, api_client):
    body = report(api_client, cohort_id=dataset.borealis.id)

    assert body["members"] == {"active": "<5", "total": "<5"}
    assert body["invitations"]["sent"] is None
    assert body["invitations"]["pending"] == body["invitations"]["withdrawn"] == "<5"
    assert body["revocations"]["total"] == 0
    assert body["requests"]["received"] == 0
    assert body["requests"]["median_hours_to_decision"] is None
    assert [p["reason"] for p in body["pauses"]] == [COHORT_PAUSE_REASON, PROGRAM_PAUSE_REASON]
    assert body["money"]["paid"] == [
        {"currency": "USD", "amount_minor": None, "median_per_paid_artist_minor": None}
    ]  # one artist's payout
    assert body["money"]["credited_total"] == [{"currency": "USD", "amount_minor": None}]


def test_the_report_lists_open_and_closed_cohorts_but_not_drafts(dataset, api_client):
    body = report(api_client)

    assert [(c["name"], c["status"]) for c in body["cohorts"]] == [
        ("Aurora", "open"),
        ("Borealis", "open"),
        ("Cygnus", "closed"),
    ]
    cygnus = report(api_client, cohort_id=dataset.cygnus.id)
    assert cygnus["members"] == {"active": 0, "total": 0}


@pytest.mark.parametrize("which", ["draft", "unknown", "huge"])
def test_a_cohort_without_a_report_is_404(dataset, api_client, which):
    cohort_id = {"draft": dataset.draft.id, "unknown": dataset.cygnus.id + 1000, "huge": 2**62}

    response = api_client().get(URL, query_string={"cohort_id": cohort_id[which]})

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-3", "", "99999999999999999999999"])
def test_a_malformed_cohort_id_is_422(db, api_client, value):
    response = api_client().get(URL, query_string={"cohort_id": value})

    assert response.status_code == 422
    assert "cohort_id" in response.json["error"]["details"]


def test_nothing_personal_is_published(dataset, api_client):
    for query in ({}, {"cohort_id": dataset.aurora.id}, {"cohort_id": dataset.borealis.id}):
        text = json.dumps(report(api_client, **query))
        for secret in dataset.secrets:
            assert secret not in text
        assert "artist_id" not in text and "email" not in text


def test_the_audit_head_is_the_chains(dataset, api_client):
    seq, head_hash = head()

    assert seq == 2
    for query in ({}, {"cohort_id": dataset.aurora.id}):
        assert report(api_client, **query)["audit"] == {"events": seq, "head_hash": head_hash}


def _statements(api_client, **query) -> int:
    """How many SQL statements one report request runs."""
    connection = _db.session.connection()
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(connection, "before_cursor_execute", count)
    try:
        report(api_client, **query)
    finally:
        sa.event.remove(connection, "before_cursor_execute", count)
    return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])


def _busy_cohort() -> None:
    cohort = CohortFactory()
    for _ in range(3):
        membership = MembershipFactory(cohort=cohort)
        InvitationFactory(cohort=cohort)
        GrantFactory(membership=membership, revoked=True)
        submission = SubmissionFactory(membership=membership, status="approved")
        DecisionFactory(submission=submission, clauses=["P1"])


def test_the_number_of_queries_does_not_grow_with_cohorts(db, api_client):
    aurora = build_dataset().aurora
    few = _statements(api_client)
    for _ in range(4):
        _busy_cohort()

    assert _statements(api_client) == few
    assert _statements(api_client, cohort_id=aurora.id) == few
    assert 10 <= few <= 15, few


def test_a_draft_cohorts_pause_is_listed_without_its_name_or_reason(dataset, api_client):
    """The pause counts, with its dates and duration; what it says about the unannounced
    cohort does not leave the program."""
    now = utcnow()
    PauseFactory(
        scope="cohort",
        cohort=dataset.draft,
        reason="Secret draft cohort: vendor Orion onboarding.",
        started_at=now - hours(30),
        ended_at=now - hours(27),
    )

    body = report(api_client)

    assert len(body["pauses"]) == 3
    draft = body["pauses"][-1]
    assert draft["scope"] == "cohort"
    assert draft["cohort_name"] is None and draft["reason"] is None
    assert draft["duration_hours"] == 3.0 and draft["ended_at"] is not None
    assert "Orion" not in json.dumps(body) and "Secret draft cohort" not in json.dumps(body)
    # Public cohorts' pauses keep their names and reasons; cohort reports never list it.
    assert body["pauses"][0]["cohort_name"] == "Borealis"
    assert body["pauses"][0]["reason"] == COHORT_PAUSE_REASON
    for cohort in (dataset.aurora, dataset.borealis):
        assert len(report(api_client, cohort_id=cohort.id)["pauses"]) < 3

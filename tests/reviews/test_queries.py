"""The review queue, an artist's list and a request's detail run the same number of SQL
statements however many requests (or history events) there are: no query per row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from access_program.db import utcnow
from access_program.reviews import service
from access_program.reviews.models import Submission
from tests.factories import MembershipFactory, SubmissionFactory, UserFactory

REASON = "Frame 3 shows the unreleased timeline feature."


@contextmanager
def statements(db) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def owner(membership) -> dict[str, int]:
    """The ids a request row needs, read while the membership is still in the session."""
    return {
        "artist_id": membership.user_id,
        "cohort_id": membership.cohort_id,
        "terms_id": membership.accepted_terms_id,
    }


def add_requests(db, member: dict[str, int], n: int, *, start: int = 0) -> None:
    """``n`` open requests for this member, inserted in one executemany."""
    now = utcnow()
    rows = []
    for i in range(start, start + n):
        submitted = now - dt.timedelta(minutes=i)
        rows.append(
            {
                **member,
                "title": f"Output {i}",
                "output_ref": f"gen://outputs/{i}",
                "intended_use": "festival",
                "status": "submitted",
                "created_at": submitted,
                "submitted_at": submitted,
                "due_at": submitted + dt.timedelta(hours=72),
                "queue_at": submitted + dt.timedelta(hours=72),
            }
        )
    db.session.execute(sa.insert(Submission), rows)


def count_get(db, client, url: str) -> tuple[int, list]:
    """Statements run by one GET, with nothing cached in the session beforehand."""
    db.session.commit()
    db.session.expunge_all()
    with statements(db) as seen:
        response = client.get(url)
    assert response.status_code == 200, response.json
    return len(seen), response.json


def test_the_review_queue_runs_the_same_statements_for_10_and_1000_requests(db, api_client):
    member = owner(MembershipFactory())
    staff = api_client(UserFactory(staff=True))
    add_requests(db, member, 10)
    count_get(db, staff, "/api/v1/review-queue")  # warm-up: the token's first use

    few, page = count_get(db, staff, "/api/v1/review-queue")
    assert len(page) == 10
    add_requests(db, member, 990, start=10)
    many, page = count_get(db, staff, "/api/v1/review-queue?page_size=50")

    assert len(page) == 50
    assert few == many


def test_an_artists_list_runs_the_same_statements_for_10_and_1000_requests(db, api_client):
    membership = MembershipFactory()
    artist = api_client(membership.user)
    member = owner(membership)
    add_requests(db, member, 10)
    add_requests(db, owner(MembershipFactory()), 10)  # someone else's
    count_get(db, artist, "/api/v1/submissions")

    few, page = count_get(db, artist, "/api/v1/submissions")
    assert len(page) == 10
    add_requests(db, member, 990, start=10)
    many, page = count_get(db, artist, "/api/v1/submissions?page_size=50")

    assert len(page) == 50
    assert {r["artist_id"] for r in page} == {member["artist_id"]}
    assert few == many


def test_a_requests_detail_runs_the_same_statements_for_1_and_30_history_events(db, api_client):
    membership = MembershipFactory()
    artist = api_client(membership.user)
    reviewer = UserFactory(staff=True)
    short = service.submit_request(
        membership.user, {"title": "Short", "output_ref": "gen://1", "intended_use": "press"}
    )
    long = SubmissionFactory(membership=membership)
    for _ in range(10):  # claim, request changes, revise: 30 events
        service.claim_request(reviewer, long)
        service.decide_request(
            reviewer, long, outcome="changes_requested", reason=REASON, clauses=["P1", "P2"]
        )
        service.revise_request(
            membership.user,
            long,
            {"title": "Long", "output_ref": "gen://2", "intended_use": "press"},
        )
    short_url, long_url = f"/api/v1/submissions/{short.id}", f"/api/v1/submissions/{long.id}"
    count_get(db, artist, short_url)

    few, detail = count_get(db, artist, short_url)
    assert len(detail["history"]) == 1
    many, detail = count_get(db, artist, long_url)

    assert len(detail["history"]) == 30
    assert len(detail["decisions"]) == 10
    assert few == many

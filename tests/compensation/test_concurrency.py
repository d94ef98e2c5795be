"""Races on PostgreSQL: real threads, each in its own app context (its own session and
connection) and unit of work. Two stipend runs at once credit each member once; two staff
accepting one contribution at once credit it once; two approvals of one request credit its fee
once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from access_program.accounts import service as accounts
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor, verify_chain
from access_program.compensation import service
from access_program.compensation.models import Contribution, LedgerEntry
from access_program.db import utcnow
from access_program.reviews.models import Submission
from tests.compensation import member
from tests.factories import SubmissionFactory, UserFactory
from tests.helpers import at_once

pytestmark = pytest.mark.postgres


def count(db, query) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def test_two_stipend_runs_at_once_credit_each_member_once(app, committed_db):
    db = committed_db
    artists = [member(monthly_stipend=25000).user_id for _ in range(6)]
    db.session.commit()
    month = utcnow().strftime("%Y-%m")

    results = at_once(app, [lambda: service.accrue_stipends(month)] * 3, in_unit_of_work=True)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.credited for r in results) == len(artists)
    assert all(r.credited + r.already_credited == len(artists) for r in results)
    stipends = sa.select(Contribution).where(Contribution.kind == "stipend")
    assert count(db, stipends) == len(artists)
    assert count(db, sa.select(LedgerEntry)) == len(artists)
    credited = sa.select(AuditEvent).where(AuditEvent.action == "contribution.credited")
    assert count(db, credited) == len(artists)
    assert verify_chain().ok


def test_two_staff_accepting_one_contribution_at_once_credit_it_once(app, committed_db):
    db = committed_db
    artist = member(bug_high=15000).user
    contribution = service.propose_contribution(
        artist, kind="bug_report", severity="high", title="Crash"
    )
    tokens = [
        accounts.create_token(Actor.system("test"), user=UserFactory(staff=True))[1]
        for _ in range(2)
    ]
    db.session.commit()
    url = f"/api/v1/contributions/{contribution.id}/accept"

    def accept(token: str) -> Callable[[], int]:
        def call() -> int:
            response = app.test_client().post(url, headers={"Authorization": f"Bearer {token}"})
            return response.status_code

        return call

    results = at_once(app, [accept(t) for t in tokens], in_unit_of_work=True)

    assert sorted(results) == [200, 409]
    assert count(db, sa.select(LedgerEntry)) == 1
    accepted = sa.select(AuditEvent).where(AuditEvent.action == "contribution.accepted")
    assert count(db, accepted) == 1


def test_two_approvals_credit_the_approved_output_fee_once(app, committed_db):
    db = committed_db
    submission = SubmissionFactory(membership=member(approved_output=1200))
    submission.status = "approved"
    db.session.commit()
    sid = submission.id

    def credit() -> int | None:
        found = service.credit_approved_output(db.session.get(Submission, sid))
        return found.id if found else None

    results = at_once(app, [credit, credit], in_unit_of_work=True)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[0] == results[1] is not None
    assert count(db, sa.select(LedgerEntry)) == 1

"""Races on PostgreSQL: real threads, each with its own app context, session and connection.

Two reviewers deciding one request at the same moment: exactly one wins, the other gets 409 and
never 500, and one final decision exists. Two `apply-deadlines` runs at once: each overdue request
lapses exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from access_program.accounts import service as accounts
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor
from access_program.db import unit_of_work
from access_program.reviews import service
from access_program.reviews.models import Decision, DecisionState, Status, Submission
from tests.factories import CohortFactory, MembershipFactory, SubmissionFactory, UserFactory
from tests.helpers import at_once

pytestmark = pytest.mark.postgres

REASON = "Frame 3 shows the unreleased timeline feature."
URL = "/api/v1/submissions"


def token_for(user) -> str:
    return accounts.create_token(Actor.system("test"), user=user)[1]


def post(app, token: str, url: str, body: dict | None = None) -> Callable[[], tuple[int, dict]]:
    def call() -> tuple[int, dict]:
        response = app.test_client().post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code, response.get_json()

    return call


def proposed_rejection(db):
    """A request in review with a rejection proposed by A; returns it and two other reviewers'
    tokens (committed, as the racing threads use their own connections)."""
    proposer = UserFactory(staff=True)
    submission = SubmissionFactory(claimed_by=proposer)
    service.decide_request(proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"])
    tokens = [token_for(UserFactory(staff=True)) for _ in range(2)]
    db.session.commit()
    return submission.id, tokens


def final_decisions(db, submission_id: int) -> list[Decision]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(Decision).where(
                Decision.submission_id == submission_id, Decision.state == DecisionState.FINAL
            )
        )
    )


@pytest.mark.parametrize(
    "bodies",
    [
        # B confirms the rejection while C approves instead.
        [
            ("/decision", {"outcome": "rejected", "reason": REASON, "clauses": ["P2"]}),
            ("/decision", {"outcome": "approved"}),
        ],
        # B and C both confirm.
        [("/confirm-rejection", {"reason": "Agreed."}), ("/confirm-rejection", {"reason": "Yes."})],
    ],
    ids=["confirm-vs-approve", "confirm-vs-confirm"],
)
def test_two_reviewers_deciding_at_once_one_wins_and_the_other_gets_409(app, committed_db, bodies):
    db = committed_db
    submission_id, tokens = proposed_rejection(db)
    calls = [
        post(app, token, f"{URL}/{submission_id}{path}", body)
        for token, (path, body) in zip(tokens, bodies, strict=True)
    ]

    results = at_once(app, calls)

    assert all(isinstance(r, tuple) for r in results), results
    statuses = sorted(status for status, _ in results)
    assert statuses[0] in (200, 201) and statuses[1] == 409, results
    (loser,) = [body for status, body in results if status == 409]
    assert loser["error"]["code"] == "already_decided"
    assert len(final_decisions(db, submission_id)) == 1
    decided = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.subject_id == str(submission_id), AuditEvent.action == "submission.decided"
        )
    ).all()
    assert len(decided) == 1


def test_two_reviewers_claiming_at_once_one_gets_it(app, committed_db):
    db = committed_db
    submission_id = SubmissionFactory().id
    tokens = [token_for(UserFactory(staff=True)) for _ in range(2)]
    db.session.commit()

    results = at_once(app, [post(app, t, f"{URL}/{submission_id}/claim") for t in tokens])

    assert sorted(status for status, _ in results) == [200, 409], results
    claims = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.subject_id == str(submission_id), AuditEvent.action == "submission.claimed"
        )
    )
    assert claims == 1


def test_apply_deadlines_twice_at_once_lapses_each_request_once(app, committed_db):
    db = committed_db
    deem = MembershipFactory(cohort=CohortFactory())
    escalate = MembershipFactory(cohort=CohortFactory(on_deadline="escalate"))
    ids = [SubmissionFactory(membership=deem, overdue=True).id for _ in range(30)]
    ids += [SubmissionFactory(membership=escalate, overdue=True).id for _ in range(10)]
    db.session.commit()

    def run():
        with unit_of_work():
            return service.apply_deadlines()

    results = at_once(app, [run, run])

    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r.deemed_approved for r in results) == 30
    assert sum(r.escalated for r in results) == 10
    db.session.expire_all()
    events = db.session.execute(
        sa.select(AuditEvent.subject_id, AuditEvent.action).where(
            AuditEvent.action.in_(["submission.deemed_approved", "submission.escalated"])
        )
    ).all()
    assert sorted(int(subject) for subject, _ in events) == sorted(ids)
    statuses = db.session.scalars(sa.select(Submission.status).where(Submission.id.in_(ids)))
    assert sorted(statuses) == sorted([Status.DEEMED_APPROVED] * 30 + [Status.SUBMITTED] * 10)
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Decision).where(Decision.submission_id.in_(ids))
        )
        == 30
    )

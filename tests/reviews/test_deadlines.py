"""Review deadlines: when they run, when they stop, and `flask reviews apply-deadlines`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.db import utcnow
from access_program.outbox.models import OutboxMessage
from access_program.reviews import service
from access_program.reviews.models import Decision, DecisionState, Status
from tests.factories import CohortFactory, MembershipFactory, SubmissionFactory, UserFactory
from tests.helpers import audit_head_seq

REASON = "Frame 3 shows the unreleased timeline feature."


def apply(runner) -> str:
    result = runner.invoke(args=["reviews", "apply-deadlines"])
    assert result.exit_code == 0, result.output
    return result.output


def events_since(db, seq: int) -> list[AuditEvent]:
    """The request's own events (an approval's fee credit is compensation's event)."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.seq > seq, AuditEvent.subject_type == "submission")
            .order_by(AuditEvent.seq)
        )
    )


def emails_to(db, user) -> list[OutboxMessage]:
    return list(
        db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.user_id == user.id))
    )


def member(on_deadline: str = "deemed_approved", review_hours: int = 72):
    return MembershipFactory(
        cohort=CohortFactory(on_deadline=on_deadline, review_hours=review_hours)
    )


def test_an_overdue_request_is_deemed_approved_by_the_system(db, runner):
    overdue = SubmissionFactory(membership=member(), overdue=True)
    claimed = SubmissionFactory(
        membership=member(), overdue=True, claimed_by=UserFactory(staff=True)
    )
    seq = audit_head_seq()

    output = apply(runner)

    assert "Deemed approved: 2; escalated: 0." in output
    db.session.expire_all()
    for submission in (overdue, claimed):
        assert submission.status == Status.DEEMED_APPROVED
        assert submission.is_approved
        assert submission.allowed_uses == [submission.intended_use]
        assert submission.due_at is None and submission.queue_at is None
        (decision,) = submission.decisions
        assert decision.reviewer_id is None
        assert decision.outcome == "deemed_approved"
        assert decision.reason == "review deadline passed"
        (email,) = emails_to(db, submission.artist)
        assert email.subject.startswith("Deemed approved")
        assert "Reason: review deadline passed" in email.body
    events = events_since(db, seq)
    assert sorted((e.action, e.artist_id, e.actor_type) for e in events) == sorted(
        ("submission.deemed_approved", s.artist_id, "system") for s in (overdue, claimed)
    )
    assert {e.data["reason"] for e in events} == {"review deadline passed"}


def test_a_cohort_may_escalate_instead(db, runner):
    submission = SubmissionFactory(membership=member("escalate"), overdue=True)
    seq = audit_head_seq()

    assert "Deemed approved: 0; escalated: 1." in apply(runner)

    db.session.expire_all()
    assert submission.status == Status.SUBMITTED  # still waits for a reviewer …
    assert submission.escalated_at is not None  # … flagged
    assert submission.queue_at is not None
    (event,) = events_since(db, seq)
    assert (event.action, event.artist_id, event.actor_type) == (
        "submission.escalated",
        submission.artist_id,
        "system",
    )
    (email,) = emails_to(db, submission.artist)
    assert "escalated" in email.subject
    assert "Reason: review deadline passed" in email.body


def test_running_it_twice_changes_nothing_the_second_time(db, runner):
    SubmissionFactory(membership=member(), overdue=True)
    SubmissionFactory(membership=member("escalate"), overdue=True)
    apply(runner)
    seq = audit_head_seq()
    emails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))

    assert "Deemed approved: 0; escalated: 0." in apply(runner)

    assert audit_head_seq() == seq
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == emails


def test_requests_not_yet_due_or_not_open_are_left_alone(db, runner):
    due_soon = SubmissionFactory(submitted_at=utcnow() - dt.timedelta(hours=71))
    withdrawn = SubmissionFactory(overdue=True, status="withdrawn", due_at=None, queue_at=None)
    seq = audit_head_seq()

    assert "Deemed approved: 0; escalated: 0." in apply(runner)

    db.session.expire_all()
    assert due_soon.status == Status.SUBMITTED
    assert withdrawn.status == Status.WITHDRAWN
    assert audit_head_seq() == seq


def test_a_proposed_rejection_does_not_stop_the_clock(db, runner):
    proposer = UserFactory(staff=True)
    submission = SubmissionFactory(membership=member(), claimed_by=proposer)
    service.decide_request(proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"])
    submission.due_at = utcnow() - dt.timedelta(minutes=1)  # precondition: the deadline passed
    db.session.commit()

    apply(runner)

    db.session.expire_all()
    assert submission.status == Status.DEEMED_APPROVED
    states = db.session.scalars(
        sa.select(Decision.state)
        .where(Decision.submission_id == submission.id)
        .order_by(Decision.id)
    ).all()
    assert states == [DecisionState.LAPSED, DecisionState.FINAL]


def test_waiting_on_the_artist_stops_the_clock_and_a_revision_restarts_it(db, runner):
    reviewer = UserFactory(staff=True)
    submission = SubmissionFactory(membership=member(review_hours=24), claimed_by=reviewer)
    service.decide_request(
        reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P1"]
    )
    assert submission.due_at is None
    submission.submitted_at = utcnow() - dt.timedelta(days=30)  # long ago: no clock runs
    db.session.commit()

    apply(runner)
    db.session.expire_all()
    assert submission.status == Status.CHANGES_REQUESTED

    before = utcnow()
    service.revise_request(
        submission.artist,
        submission,
        {"title": "Cut two", "output_ref": "gen://2", "intended_use": "festival"},
    )
    assert submission.submitted_at >= before
    assert submission.due_at == submission.submitted_at + dt.timedelta(hours=24)


def test_the_api_shows_the_time_left_and_marks_overdue_requests(db, api_client, runner):
    membership = member()
    open_one = SubmissionFactory(membership=membership)
    late = SubmissionFactory(membership=membership, overdue=True)
    artist = api_client(membership.user)

    listed = {r["id"]: r for r in artist.get("/api/v1/submissions").json}

    assert listed[open_one.id]["overdue"] is False
    assert dt.datetime.fromisoformat(listed[open_one.id]["due_at"]) > utcnow()
    assert listed[late.id]["overdue"] is True

    apply(runner)
    after = artist.get(f"/api/v1/submissions/{late.id}").json
    assert after["status"] == "deemed_approved"
    assert after["overdue"] is False
    assert after["history"][-1]["action"] == "submission.deemed_approved"
    assert after["history"][-1]["who"] == "review deadlines"
    assert after["history"][-1]["why"] == "review deadline passed"

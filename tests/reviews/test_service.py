"""Output-approval requests through the service: the state machine, claims, decisions, the
two-person rule, appeals and their window, notifications and one audit event per transition."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.db import utcnow
from access_program.errors import Conflict, Forbidden, InvalidTransition, ValidationError
from access_program.outbox.models import OutboxMessage
from access_program.reviews import service
from access_program.reviews.models import Decision, DecisionState, Status
from tests.factories import (
    CohortFactory,
    MembershipFactory,
    PauseFactory,
    SubmissionFactory,
    TermsFactory,
    UserFactory,
)
from tests.helpers import audit_head_seq

REQUEST = {
    "title": "Night swim",
    "description": "Three minutes of a lake at night.",
    "output_ref": "gen://outputs/123",
    "output_sha256": None,
    "intended_use": "festival",
    "venue": "Berlinale Shorts",
    "planned_date": dt.date(2031, 2, 14),
}
REASON = "Frame 3 shows the unreleased timeline feature."
DAY = dt.timedelta(days=1)


def only_event(db, since: int, action: str, artist_id: int) -> AuditEvent:
    """Exactly one audit event was written since ``since``: this action, for this artist."""
    # Approvals also credit the approved-output fee: that event belongs to compensation.
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq > since, AuditEvent.subject_type == "submission")
    ).all()
    assert [e.action for e in events] == [action]
    assert events[0].artist_id == artist_id
    return events[0]


def emails_to(db, user) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.user_id == user.id)
            .order_by(OutboxMessage.id)
        )
    )


def claimed(reviewer=None, **kwargs):
    """A request in review, claimed by ``reviewer`` (a new staff member if not given)."""
    reviewer = reviewer or UserFactory(staff=True)
    return SubmissionFactory(claimed_by=reviewer, **kwargs), reviewer


def rejected(db, *, two_person_rule: bool = False):
    """A request rejected citing P2 (the proposal confirmed by a second reviewer if the rule is
    on); returns (submission, proposer, confirmer or None)."""
    cohort = CohortFactory(two_person_rule=two_person_rule)
    submission, proposer = claimed(membership=MembershipFactory(cohort=cohort))
    service.decide_request(proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"])
    confirmer = None
    if two_person_rule:
        confirmer = UserFactory(staff=True)
        service.confirm_rejection(confirmer, submission, "Agreed.")
    assert submission.status == Status.REJECTED
    return submission, proposer, confirmer


def move_rejection_back(db, submission, days: float) -> None:
    """Precondition: the rejection became final ``days`` ago."""
    decision = service.final_rejection(submission)
    when = utcnow() - dt.timedelta(days=days)
    decision.decided_at = when
    if decision.confirmed_at is not None:
        decision.confirmed_at = when
    db.session.flush()


# --- submitting ----------------------------------------------------------------------------


def test_submitting_starts_the_deadline_and_writes_one_event(db):
    membership = MembershipFactory(cohort=CohortFactory(review_hours=48))
    seq = audit_head_seq()

    submission = service.submit_request(membership.user, REQUEST)

    assert submission.status == Status.SUBMITTED
    assert submission.terms_id == membership.accepted_terms_id
    assert submission.due_at == submission.submitted_at + dt.timedelta(hours=48)
    assert submission.queue_at == submission.due_at
    event = only_event(db, seq, "submission.submitted", membership.user_id)
    assert event.subject_id == str(submission.id)


def test_only_active_members_submit(db):
    ended = MembershipFactory(ended=True)
    with pytest.raises(Conflict, match="active members"):
        service.submit_request(ended.user, REQUEST)


def test_request_fields_are_checked_in_the_service_too(db):
    membership = MembershipFactory()
    with pytest.raises(ValidationError) as refused:
        service.submit_request(
            membership.user, {**REQUEST, "intended_use": "billboard", "output_sha256": "xyz"}
        )
    assert set(refused.value.details) == {"intended_use", "output_sha256"}


def test_a_pause_stops_neither_submitting_revising_withdrawing_nor_appealing(db):
    PauseFactory()  # a global pause, still open
    membership = MembershipFactory()
    artist = membership.user
    reviewer = UserFactory(staff=True)

    first = service.submit_request(artist, REQUEST)
    service.claim_request(reviewer, first)
    service.decide_request(
        reviewer, first, outcome="changes_requested", reason=REASON, clauses=["P2"]
    )
    service.revise_request(artist, first, {**REQUEST, "title": "Night swim, cut"})
    assert first.status == Status.SUBMITTED
    service.withdraw_request(artist, first)
    assert first.status == Status.WITHDRAWN

    submission, _, _ = rejected(db)
    service.appeal_request(submission.artist, submission, "The feature was announced last week.")
    assert submission.status == Status.APPEALED


# --- claims and decisions ------------------------------------------------------------------


def test_claiming_puts_the_request_in_review_and_a_second_claim_is_refused(db):
    submission = SubmissionFactory()
    first, second = UserFactory(staff=True), UserFactory(staff=True)
    seq = audit_head_seq()

    service.claim_request(first, submission)

    assert submission.status == Status.IN_REVIEW
    assert submission.claimed_by_id == first.id
    only_event(db, seq, "submission.claimed", submission.artist_id)
    with pytest.raises(Conflict) as refused:
        service.claim_request(second, submission)
    assert "in review" in refused.value.message
    assert refused.value.status == 409


def test_deciding_needs_a_claim_by_the_decider(db):
    unclaimed = SubmissionFactory()
    reviewer = UserFactory(staff=True)
    with pytest.raises(Conflict, match="claim it"):
        service.decide_request(reviewer, unclaimed, outcome="approved")

    submission, _ = claimed()
    with pytest.raises(Conflict, match="is reviewing this request") as refused:
        service.decide_request(reviewer, submission, outcome="approved")
    assert refused.value.status == 409
    assert submission.status == Status.IN_REVIEW


def test_an_approval_records_the_allowed_uses_and_tells_the_artist(db):
    submission, reviewer = claimed()
    seq = audit_head_seq()

    decision = service.decide_request(
        reviewer,
        submission,
        outcome="approved",
        reason="Lovely work, share it widely.",
        allowed_uses=["festival", "press"],
    )

    assert submission.status == Status.APPROVED
    assert submission.is_approved
    assert decision.allowed_uses == submission.allowed_uses == ["festival", "press"]
    assert submission.due_at is None and submission.queue_at is None
    event = only_event(db, seq, "submission.decided", submission.artist_id)
    assert event.data["allowed_uses"] == ["festival", "press"]
    (email,) = emails_to(db, submission.artist)
    assert email.to_email == submission.artist.email
    assert "Lovely work, share it widely." in email.body
    assert "festival, press" in email.body


def test_an_approval_without_uses_allows_the_intended_use(db):
    submission, reviewer = claimed()
    decision = service.decide_request(reviewer, submission, outcome="approved")
    assert decision.allowed_uses == ["festival"]


@pytest.mark.parametrize("outcome", ["changes_requested", "rejected"])
@pytest.mark.parametrize(
    ("reason", "clauses", "field"),
    [
        ("", ["P1"], "reason"),
        ("Too short.", ["P1"], "reason"),
        (REASON, [], "clauses"),
    ],
)
def test_refusals_need_a_reason_and_a_clause(db, outcome, reason, clauses, field):
    submission, reviewer = claimed()
    seq = audit_head_seq()
    with pytest.raises(ValidationError) as refused:
        service.decide_request(
            reviewer, submission, outcome=outcome, reason=reason, clauses=clauses
        )
    assert field in refused.value.details
    assert submission.status == Status.IN_REVIEW
    assert audit_head_seq() == seq


def test_an_unknown_clause_is_named(db):
    submission, reviewer = claimed()
    with pytest.raises(ValidationError) as refused:
        service.decide_request(
            reviewer, submission, outcome="rejected", reason=REASON, clauses=["P2", "P77"]
        )
    assert "P77" in refused.value.details["clauses"][0]


def test_clauses_come_from_the_terms_the_artist_accepted(db):
    membership = MembershipFactory()
    submission, reviewer = claimed(membership=membership)
    # The cohort moves to new terms with a clause P9; the artist has not accepted them.
    membership.cohort.terms = TermsFactory(
        clauses=[("P1", "No real people", "…"), ("P9", "No weapons", "No weapons at all.")]
    )
    db.session.flush()

    with pytest.raises(ValidationError) as refused:
        service.decide_request(
            reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P9"]
        )
    assert "P9" in refused.value.details["clauses"][0]

    service.decide_request(
        reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P2"]
    )
    assert submission.status == Status.CHANGES_REQUESTED


def test_changes_requested_stops_the_clock_and_a_revision_starts_a_new_one(db):
    submission, reviewer = claimed(membership=MembershipFactory(cohort=CohortFactory()))
    seq = audit_head_seq()

    service.decide_request(
        reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P2"]
    )

    assert submission.due_at is None and submission.queue_at is None
    only_event(db, seq, "submission.decided", submission.artist_id)
    (email,) = emails_to(db, submission.artist)
    assert REASON in email.body
    assert "P2 — No confidential features" in email.body

    seq = audit_head_seq()
    service.revise_request(submission.artist, submission, {**REQUEST, "title": "Night swim 2"})

    assert submission.status == Status.SUBMITTED
    assert submission.revision == 2
    assert submission.title == "Night swim 2"
    assert submission.claimed_by_id is None
    assert submission.due_at == submission.submitted_at + dt.timedelta(
        hours=submission.cohort.review_hours
    )
    event = only_event(db, seq, "submission.revised", submission.artist_id)
    assert "title" in event.data["changed"]


def test_deciding_an_already_decided_request_is_refused_naming_its_state(db):
    submission, reviewer = claimed()
    service.decide_request(reviewer, submission, outcome="approved")
    with pytest.raises(InvalidTransition) as refused:
        service.decide_request(reviewer, submission, outcome="approved")
    assert "already approved" in refused.value.message
    assert refused.value.details == {"status": "approved"}


ILLEGAL = [
    # (how far the request got, the move) -> 409 naming the state it is in
    ("approved", "claim"),
    ("approved", "withdraw"),
    ("approved", "revise"),
    ("approved", "appeal"),
    ("approved", "appeal_decision"),
    ("submitted", "revise"),
    ("submitted", "appeal"),
    ("submitted", "confirm"),
    ("changes_requested", "claim"),
    ("changes_requested", "appeal"),
    ("withdrawn", "withdraw"),
    ("withdrawn", "claim"),
    ("rejected", "withdraw"),
    ("rejected", "revise"),
    ("rejected", "appeal_decision"),
]


def reach(db, state: str):
    """A request in ``state``, reached through the service."""
    if state == "submitted":
        return SubmissionFactory()
    if state == "rejected":
        return rejected(db)[0]
    submission, reviewer = claimed()
    if state == "approved":
        service.decide_request(reviewer, submission, outcome="approved")
    elif state == "changes_requested":
        service.decide_request(
            reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P1"]
        )
    elif state == "withdrawn":
        service.withdraw_request(submission.artist, submission)
    assert submission.status == state
    return submission


@pytest.mark.parametrize(("state", "move"), ILLEGAL)
def test_every_illegal_move_is_a_409_naming_the_current_state(db, state, move):
    submission = reach(db, state)
    artist, staff = submission.artist, UserFactory(staff=True)
    seq = audit_head_seq()
    moves = {
        "claim": lambda: service.claim_request(staff, submission),
        "withdraw": lambda: service.withdraw_request(artist, submission),
        "revise": lambda: service.revise_request(artist, submission, REQUEST),
        "appeal": lambda: service.appeal_request(
            artist, submission, "I disagree, and here is why."
        ),
        "appeal_decision": lambda: service.decide_appeal(staff, submission, "granted", REASON),
        "confirm": lambda: service.confirm_rejection(staff, submission),
    }
    with pytest.raises(Conflict) as refused:
        moves[move]()
    assert refused.value.status == 409
    assert state.replace("_", " ") in refused.value.message
    assert refused.value.details["status"] == state
    assert audit_head_seq() == seq


# --- the two-person rule -------------------------------------------------------------------


def test_a_proposed_rejection_keeps_the_request_open_until_confirmed(db):
    submission, proposer = claimed()
    due = submission.due_at
    seq = audit_head_seq()

    proposal = service.decide_request(
        proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"]
    )

    assert proposal.state == DecisionState.PROPOSED
    assert submission.status == Status.IN_REVIEW
    assert submission.is_open
    assert submission.due_at == due  # the deadline keeps running
    only_event(db, seq, "submission.rejection_proposed", submission.artist_id)
    assert emails_to(db, submission.artist) == []  # nothing final to tell yet

    with pytest.raises(Forbidden):
        service.confirm_rejection(proposer, submission)
    with pytest.raises(Forbidden):
        service.decide_request(
            proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"]
        )

    second = UserFactory(staff=True)
    seq = audit_head_seq()
    decision = service.confirm_rejection(second, submission, "Agreed, it is confidential.")

    assert decision is proposal
    assert submission.status == Status.REJECTED
    assert decision.state == DecisionState.FINAL
    assert decision.confirmed_by_id == second.id
    assert submission.due_at is None
    event = only_event(db, seq, "submission.decided", submission.artist_id)
    assert event.data["proposed_by"] == proposer.id
    (email,) = emails_to(db, submission.artist)
    assert REASON in email.body and "No confidential features" in email.body


def test_a_second_reviewer_may_approve_instead(db):
    submission, proposer = claimed()
    proposal = service.decide_request(
        proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"]
    )
    second = UserFactory(staff=True)
    seq = audit_head_seq()

    decision = service.decide_request(
        second, submission, outcome="approved", reason="It was announced publicly already."
    )

    assert submission.status == Status.APPROVED
    assert proposal.state == DecisionState.OVERTURNED
    assert decision.reviewer_id == second.id
    only_event(db, seq, "submission.decided", submission.artist_id)
    finals = db.session.scalars(
        sa.select(Decision).where(
            Decision.submission_id == submission.id, Decision.state == DecisionState.FINAL
        )
    ).all()
    assert finals == [decision]


def test_a_second_reviewer_deciding_rejected_confirms_the_proposal(db):
    submission, proposer = claimed()
    proposal = service.decide_request(
        proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"]
    )
    decision = service.decide_request(
        UserFactory(staff=True), submission, outcome="rejected", reason=REASON, clauses=["P1"]
    )
    assert decision is proposal
    assert submission.status == Status.REJECTED


def test_without_the_rule_a_rejection_is_final_at_once(db):
    submission, _, _ = rejected(db, two_person_rule=False)
    (decision,) = submission.decisions
    assert decision.state == DecisionState.FINAL
    assert decision.confirmed_by_id is None
    assert submission.due_at is None


# --- appeals -------------------------------------------------------------------------------


STATEMENT = "The feature was announced on the public blog last week."


def test_an_appeal_is_filed_once(db):
    submission, _, _ = rejected(db, two_person_rule=True)
    artist = submission.artist
    seq = audit_head_seq()

    appeal = service.appeal_request(artist, submission, STATEMENT)

    assert submission.status == Status.APPEALED
    assert appeal.statement == STATEMENT
    assert submission.queue_at is not None  # staff owe an answer again
    only_event(db, seq, "submission.appealed", artist.id)
    with pytest.raises(Conflict, match="one appeal"):
        service.appeal_request(artist, submission, STATEMENT)


def test_an_appeal_needs_a_statement(db):
    submission, _, _ = rejected(db)
    with pytest.raises(ValidationError) as refused:
        service.appeal_request(submission.artist, submission, "no")
    assert "statement" in refused.value.details


def test_the_appeal_window_is_14_days(db):
    inside, _, _ = rejected(db)
    move_rejection_back(db, inside, 13.9)
    service.appeal_request(inside.artist, inside, STATEMENT)

    late, _, _ = rejected(db)
    move_rejection_back(db, late, 15)
    with pytest.raises(Conflict, match="appeal window closed") as refused:
        service.appeal_request(late.artist, late, STATEMENT)
    assert refused.value.status == 409
    assert late.status == Status.REJECTED


def test_a_pause_of_the_artists_access_extends_the_appeal_window(db):
    submission, _, _ = rejected(db)
    move_rejection_back(db, submission, 17)
    now = utcnow()
    PauseFactory(started_at=now - 10 * DAY, ended_at=now - 5 * DAY, end_note="Back.")

    service.appeal_request(submission.artist, submission, STATEMENT)

    assert submission.status == Status.APPEALED


def test_a_pause_extends_the_window_only_by_its_length(db):
    submission, _, _ = rejected(db)
    move_rejection_back(db, submission, 20)
    now = utcnow()
    PauseFactory(
        for_cohort=True,
        cohort=submission.cohort,
        started_at=now - 10 * DAY,
        ended_at=now - 5 * DAY,
        end_note="Back.",
    )
    with pytest.raises(Conflict, match="appeal window closed"):
        service.appeal_request(submission.artist, submission, STATEMENT)


def test_another_cohorts_pause_does_not_extend_the_window(db):
    submission, _, _ = rejected(db)
    move_rejection_back(db, submission, 17)
    now = utcnow()
    PauseFactory(for_cohort=True, started_at=now - 10 * DAY, ended_at=now - 5 * DAY)
    with pytest.raises(Conflict, match="appeal window closed"):
        service.appeal_request(submission.artist, submission, STATEMENT)


@pytest.mark.parametrize("who", ["proposer", "confirmer"])
def test_rejection_participants_cannot_decide_the_appeal(db, who):
    submission, proposer, confirmer = rejected(db, two_person_rule=True)
    service.appeal_request(submission.artist, submission, STATEMENT)
    participant = proposer if who == "proposer" else confirmer
    with pytest.raises(Forbidden, match="took part"):
        service.decide_appeal(participant, submission, "granted", REASON)
    assert submission.status == Status.APPEALED


def test_an_appeal_decision_needs_a_reason(db):
    submission, _, _ = rejected(db)
    service.appeal_request(submission.artist, submission, STATEMENT)
    with pytest.raises(ValidationError) as refused:
        service.decide_appeal(UserFactory(staff=True), submission, "granted", "ok")
    assert "reason" in refused.value.details


@pytest.mark.parametrize(
    ("outcome", "status", "approved"),
    [("granted", Status.APPEAL_GRANTED, True), ("upheld", Status.APPEAL_UPHELD, False)],
)
def test_an_uninvolved_staff_member_decides_the_appeal(db, outcome, status, approved):
    submission, _, _ = rejected(db, two_person_rule=True)
    service.appeal_request(submission.artist, submission, STATEMENT)
    judge = UserFactory(staff=True)
    seq = audit_head_seq()

    appeal = service.decide_appeal(judge, submission, outcome, "Announced publicly on the blog.")

    assert submission.status == status
    assert submission.is_approved is approved
    assert appeal.decided_by_id == judge.id and appeal.outcome == outcome
    assert submission.queue_at is None
    event = only_event(db, seq, "submission.appeal_decided", submission.artist_id)
    assert event.data["outcome"] == outcome
    email = emails_to(db, submission.artist)[-1]
    assert "Announced publicly on the blog." in email.body
    assert "P2 — No confidential features" in email.body


# --- withdrawing and the record ------------------------------------------------------------


def test_the_artist_withdraws_before_a_decision(db):
    submission, _ = claimed()
    seq = audit_head_seq()
    service.withdraw_request(submission.artist, submission)
    assert submission.status == Status.WITHDRAWN
    assert submission.queue_at is None
    only_event(db, seq, "submission.withdrawn", submission.artist_id)


def test_history_says_who_decided_what_when_and_why_with_the_clause_text(db):
    submission, proposer, confirmer = rejected(db, two_person_rule=True)
    service.appeal_request(submission.artist, submission, STATEMENT)
    service.decide_appeal(
        UserFactory(staff=True), submission, "granted", "Announced publicly on the blog."
    )

    items = service.history(submission)

    assert [i.action for i in items] == [
        "submission.rejection_proposed",
        "submission.decided",
        "submission.appealed",
        "submission.appeal_decided",
    ]
    proposed = items[0]
    assert proposed.who == proposer.name
    assert proposed.why == REASON
    assert [(c.code, c.text) for c in proposed.clauses] == [
        ("P2", "Do not show unreleased features.")
    ]
    assert items[1].who == confirmer.name
    assert items[1].what == "Decided: rejected"
    assert items[2].why == STATEMENT
    assert items[3].what == "Appeal granted"

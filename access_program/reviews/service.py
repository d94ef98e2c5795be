"""Output-approval requests: submit, claim, decide, confirm, revise, withdraw, appeal, lapse.

Every move goes through ``_move`` and the TRANSITIONS table; every move writes one audit event
(subject ``submission``, artist set) and, when the artist should hear of it, one outbox email.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program import audit
from access_program.access.models import MAX_ID, Pause, PauseScope
from access_program.accounts.models import User
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor
from access_program.cohorts.models import Membership, MembershipStatus, OnDeadline, PolicyClause
from access_program.compensation.service import credit_approved_output
from access_program.db import db, utcnow
from access_program.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationError
from access_program.outbox.service import queue_email
from access_program.reviews.models import (
    OPEN_STATES,
    TRANSITIONS,
    Appeal,
    Decision,
    DecisionState,
    IntendedUse,
    Outcome,
    Status,
    Submission,
)

MIN_REASON = 20
APPEAL_WINDOW = dt.timedelta(days=14)
DEADLINE_REASON = "review deadline passed"
REQUEST_FIELDS = (
    "title",
    "description",
    "output_ref",
    "output_sha256",
    "intended_use",
    "venue",
    "planned_date",
)

SYSTEM = Actor.system("review deadlines")


# --- loading -------------------------------------------------------------------------------


def get_submission(submission_id: int, *, lock: bool = False) -> Submission:
    """The request by id (404 if none). ``lock=True`` takes its row lock (PostgreSQL) and reads
    the row as committed now, so a decision never acts on a copy a rival has changed."""
    if not 0 < submission_id <= MAX_ID:  # no such row can exist; the database would refuse it
        raise NotFound(f"No request {submission_id}.")
    query = sa.select(Submission).where(Submission.id == submission_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    submission = db.session.scalar(query)
    if submission is None:
        raise NotFound(f"No request {submission_id}.")
    return submission


def get_for_viewer(user: User, submission_id: int, *, lock: bool = False) -> Submission:
    """The request if this user may see it: staff all, an artist only their own (else 404)."""
    submission = get_submission(submission_id, lock=lock)
    if not user.is_staff and submission.artist_id != user.id:
        raise NotFound(f"No request {submission_id}.")
    return submission


# --- helpers -------------------------------------------------------------------------------


def _move(submission: Submission, target: Status) -> Status:
    current = Status(submission.status)
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"The request is {_state_words(current)}; it cannot become {_state_words(target)}.",
            details={"status": current},
        )
    submission.status = target
    return current


def _record(
    actor: Actor, action: str, submission: Submission, previous: Status | None, **data: Any
) -> None:
    audit.record(
        actor,
        action,
        "submission",
        submission.id,
        artist_id=submission.artist_id,
        data={"from": previous, "to": submission.status, "revision": submission.revision, **data},
    )


def _clauses_by_code(submission: Submission, codes: list[str]) -> list[PolicyClause]:
    known = {c.code: c for c in submission.terms.clauses}
    return [known[c] for c in codes if c in known]


def _notify(submission: Submission, subject: str, lines: list[str]) -> None:
    queue_email(
        "review",
        submission.artist.email,
        f"{subject}: {submission.title}",
        "\n".join(lines) + f"\n\nSee the whole history on your request #{submission.id}.",
        user_id=submission.artist_id,
    )


def _clause_lines(submission: Submission, codes: list[str]) -> list[str]:
    return [f"  {c.code} — {c.title}" for c in _clauses_by_code(submission, codes)]


def _state_words(status: str) -> str:
    return status.replace("_", " ")


def _start_clock(submission: Submission, now: dt.datetime) -> None:
    submission.submitted_at = now
    submission.due_at = now + dt.timedelta(hours=submission.cohort.review_hours)
    submission.queue_at = submission.due_at
    submission.escalated_at = None
    submission.claimed_by = None
    submission.claimed_at = None


def _stop_clock(submission: Submission) -> None:
    submission.due_at = None
    submission.queue_at = None


def pending_proposal(submission: Submission) -> Decision | None:
    for decision in submission.decisions:
        if decision.state == DecisionState.PROPOSED and decision.revision == submission.revision:
            return decision
    return None


def _validate_request(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if not (data.get("title") or "").strip():
        errors["title"] = ["Give the output a title."]
    if not (data.get("output_ref") or "").strip():
        errors["output_ref"] = ["Give the output's id or URL in the tool."]
    if data.get("intended_use") not in set(IntendedUse):
        errors["intended_use"] = [f"Use one of: {', '.join(IntendedUse)}."]
    sha = data.get("output_sha256")
    if sha and (len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha.lower())):
        errors["output_sha256"] = ["A SHA-256 is 64 hexadecimal characters."]
    if errors:
        raise ValidationError("The request has invalid fields.", details=errors)
    clean = {k: data.get(k) for k in REQUEST_FIELDS}
    clean["title"] = clean["title"].strip()
    clean["output_ref"] = clean["output_ref"].strip()
    clean["description"] = clean.get("description") or ""
    clean["venue"] = clean.get("venue") or ""
    clean["output_sha256"] = sha.lower() if sha else None
    return clean


# --- artist actions ------------------------------------------------------------------------


def submit_request(artist: User, data: dict[str, Any]) -> Submission:
    """A new request to share an output; a pause does not stop it. Audit: submission.submitted."""
    membership = db.session.scalar(
        sa.select(Membership).where(
            Membership.user_id == artist.id, Membership.status == MembershipStatus.ACTIVE
        )
    )
    if membership is None:
        raise Conflict("Only active members can ask to share outputs.", code="no_active_membership")
    if membership.accepted_terms_id is None:
        raise Conflict("Accept the program terms before submitting.", code="terms_not_accepted")
    fields = _validate_request(data)
    now = utcnow()
    submission = Submission(
        artist=artist,
        cohort=membership.cohort,
        terms_id=membership.accepted_terms_id,
        **fields,
    )
    _start_clock(submission, now)
    db.session.add(submission)
    db.session.flush()
    _record(
        artist.actor,
        "submission.submitted",
        submission,
        None,
        title=submission.title,
        intended_use=submission.intended_use,
        due_at=submission.due_at.isoformat(),
    )
    return submission


def revise_request(artist: User, submission: Submission, data: dict[str, Any]) -> Submission:
    """changes_requested → submitted as a new revision; a new deadline starts.
    Audit: submission.revised."""
    if submission.artist_id != artist.id:
        raise NotFound(f"No request {submission.id}.")
    fields = _validate_request(data)
    previous = _move(submission, Status.SUBMITTED)
    changed = {k: v for k, v in fields.items() if getattr(submission, k) != v}
    for key, value in fields.items():
        setattr(submission, key, value)
    submission.revision += 1
    _start_clock(submission, utcnow())
    _record(
        artist.actor,
        "submission.revised",
        submission,
        previous,
        changed=sorted(changed),
        due_at=submission.due_at.isoformat(),
    )
    return submission


def withdraw_request(artist: User, submission: Submission) -> Submission:
    """Before a decision: → withdrawn. Audit: submission.withdrawn."""
    if submission.artist_id != artist.id:
        raise NotFound(f"No request {submission.id}.")
    previous = _move(submission, Status.WITHDRAWN)
    _stop_clock(submission)
    proposal = pending_proposal(submission)
    if proposal is not None:
        proposal.state = DecisionState.OVERTURNED
    _record(artist.actor, "submission.withdrawn", submission, previous)
    return submission


def paused_time(artist_id: int, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """How long the artist's access was paused (global or their cohort) between two times."""
    cohort_ids = sa.select(Membership.cohort_id).where(Membership.user_id == artist_id)
    pauses = db.session.scalars(
        sa.select(Pause).where(
            sa.or_(Pause.scope == PauseScope.GLOBAL, Pause.cohort_id.in_(cohort_ids)),
            Pause.started_at < end,
            sa.or_(Pause.ended_at.is_(None), Pause.ended_at > start),
        )
    )
    # Merge overlapping intervals so a global and a cohort pause at once count once.
    spans = sorted((max(p.started_at, start), min(p.ended_at or end, end)) for p in pauses)
    total = dt.timedelta()
    current_start, current_end = None, None
    for s, e in spans:
        if current_end is None or s > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = s, e
        else:
            current_end = max(current_end, e)
    if current_end is not None:
        total += current_end - current_start
    return total


def final_rejection(submission: Submission) -> Decision | None:
    final = [
        d
        for d in submission.decisions
        if d.outcome == Outcome.REJECTED and d.state == DecisionState.FINAL
    ]
    return final[-1] if final else None


def rejection_time(submission: Submission) -> dt.datetime | None:
    """When the rejection became final (confirmed, under the two-person rule)."""
    rejection = final_rejection(submission)
    if rejection is None:
        return None
    return rejection.confirmed_at or rejection.decided_at


def appeal_deadline(submission: Submission, now: dt.datetime | None = None) -> dt.datetime | None:
    """14 days after the rejection, extended by the time the artist's access was paused."""
    rejected_at = rejection_time(submission)
    if rejected_at is None:
        return None
    now = now or utcnow()
    return rejected_at + APPEAL_WINDOW + paused_time(submission.artist_id, rejected_at, now)


def appeal_request(artist: User, submission: Submission, statement: str) -> Appeal:
    """rejected → appealed, once, within the window. Audit: submission.appealed."""
    if submission.artist_id != artist.id:
        raise NotFound(f"No request {submission.id}.")
    if submission.appeal is not None:
        raise Conflict(
            f"The request is {_state_words(submission.status)}: it was already appealed, and a"
            " request gets one appeal.",
            code="already_appealed",
            details={"status": submission.status},
        )
    if submission.status != Status.REJECTED:
        _move(submission, Status.APPEALED)  # raises the 409 that names the state
    statement = (statement or "").strip()
    if len(statement) < MIN_REASON:
        raise ValidationError(
            "The appeal needs a statement.",
            details={"statement": [f"Explain your appeal in at least {MIN_REASON} characters."]},
        )
    now = utcnow()
    deadline = appeal_deadline(submission, now)
    if deadline is not None and now > deadline:
        raise Conflict(
            f"The appeal window closed on {deadline:%d %b %Y, %H:%M} UTC (14 days after the"
            " rejection, plus any pause of your access).",
            code="appeal_window_closed",
            details={"status": submission.status},
        )
    previous = _move(submission, Status.APPEALED)
    appeal = Appeal(submission=submission, statement=statement, filed_at=now)
    db.session.add(appeal)
    submission.queue_at = now + dt.timedelta(hours=submission.cohort.review_hours)
    db.session.flush()
    _record(
        artist.actor,
        "submission.appealed",
        submission,
        previous,
        appeal_id=appeal.id,
        statement=statement,
    )
    return appeal


# --- staff actions -------------------------------------------------------------------------


def claim_request(reviewer: User, submission: Submission) -> Submission:
    """submitted → in_review, claimed by this reviewer. Audit: submission.claimed."""
    if submission.status == Status.IN_REVIEW:
        if submission.claimed_by_id == reviewer.id:
            return submission
        if pending_proposal(submission) is None:
            who = submission.claimed_by.name if submission.claimed_by else "Another reviewer"
            raise Conflict(
                f"{who} is already reviewing this request (in review).",
                code="already_claimed",
                details={"status": submission.status},
            )
        raise Conflict(
            "The request is in review with a proposed rejection waiting for a second reviewer:"
            " confirm it or decide otherwise instead of claiming.",
            code="awaiting_confirmation",
            details={"status": submission.status},
        )
    previous = _move(submission, Status.IN_REVIEW)
    submission.claimed_by = reviewer
    submission.claimed_at = utcnow()
    _record(reviewer.actor, "submission.claimed", submission, previous)
    return submission


def _check_decision(
    submission: Submission,
    outcome: str,
    reason: str,
    clauses: list[str],
    allowed_uses: list[str] | None,
) -> tuple[Outcome, str, list[str], list[str] | None]:
    errors: dict[str, list[str]] = {}
    if outcome not in (Outcome.APPROVED, Outcome.CHANGES_REQUESTED, Outcome.REJECTED):
        errors["outcome"] = ["Use approved, changes_requested or rejected."]
    reason = (reason or "").strip()
    clauses = list(dict.fromkeys(c.strip() for c in clauses or [] if c.strip()))
    if outcome in (Outcome.CHANGES_REQUESTED, Outcome.REJECTED):
        if len(reason) < MIN_REASON:
            errors["reason"] = [f"Give the reason in at least {MIN_REASON} characters."]
        if not clauses:
            errors["clauses"] = ["Cite at least one clause of the content policy."]
    known = {c.code for c in submission.terms.clauses}
    unknown = [c for c in clauses if c not in known]
    if unknown:
        errors["clauses"] = [
            f"Unknown clause {', '.join(unknown)} in {submission.terms.label}"
            f" (known: {', '.join(sorted(known))})."
        ]
    if outcome == Outcome.APPROVED:
        uses = list(dict.fromkeys(allowed_uses or [submission.intended_use]))
        bad = [u for u in uses if u not in set(IntendedUse)]
        if bad:
            errors["allowed_uses"] = [f"Unknown use {', '.join(bad)}."]
        allowed_uses = uses
    else:
        allowed_uses = None
    if errors:
        raise ValidationError("The decision is incomplete.", details=errors)
    return Outcome(outcome), reason, clauses, allowed_uses


def _finalize(
    reviewer: User, submission: Submission, decision: Decision, action: str, **extra: Any
) -> None:
    outcome = Outcome(decision.outcome)
    previous = _move(submission, Status(outcome))
    now = utcnow()
    submission.decided_at = now
    submission.allowed_uses = decision.allowed_uses
    _stop_clock(submission)
    _record(
        reviewer.actor,
        action,
        submission,
        previous,
        decision_id=decision.id,
        outcome=outcome,
        reason=decision.reason,
        clauses=decision.clauses,
        allowed_uses=decision.allowed_uses,
        **extra,
    )
    if outcome == Outcome.APPROVED:
        credit_approved_output(submission)
    words = {
        Outcome.APPROVED: "Approved",
        Outcome.CHANGES_REQUESTED: "Changes requested",
        Outcome.REJECTED: "Not approved",
    }[outcome]
    lines = [f"Decision: {words.lower()}."]
    if decision.reason:
        lines.append(f"Reason: {decision.reason}")
    if decision.clauses:
        lines += ["Clauses cited:", *_clause_lines(submission, decision.clauses)]
    if decision.allowed_uses:
        lines.append(
            "Allowed uses: " + ", ".join(u.replace("_", " ") for u in decision.allowed_uses)
        )
    if outcome == Outcome.REJECTED:
        lines.append("You may appeal within 14 days; a reviewer who took no part decides.")
    _notify(submission, words, lines)


def decide_request(
    reviewer: User,
    submission: Submission,
    *,
    outcome: str,
    reason: str = "",
    clauses: list[str] | None = None,
    allowed_uses: list[str] | None = None,
) -> Decision:
    """A reviewer's decision. With the two-person rule a rejection is only proposed until a
    second staff member confirms it. Audit: submission.decided or submission.rejection_proposed.
    """
    if submission.status not in OPEN_STATES:
        raise InvalidTransition(
            f"The request is already {_state_words(submission.status)}"
            + (
                f" (decided {submission.decided_at:%d %b %Y, %H:%M} UTC)"
                if submission.decided_at
                else ""
            )
            + "; reload it to see the decision.",
            code="already_decided",
            details={"status": submission.status},
        )
    proposal = pending_proposal(submission)
    if proposal is not None:
        if proposal.reviewer_id == reviewer.id:
            raise Forbidden(
                "You proposed the rejection; a second staff member must confirm or overturn it."
            )
    elif submission.status != Status.IN_REVIEW or submission.claimed_by_id != reviewer.id:
        if submission.status == Status.IN_REVIEW:
            who = submission.claimed_by.name if submission.claimed_by else "Another reviewer"
            raise Conflict(
                f"{who} is reviewing this request (in review); only they can decide it.",
                code="already_claimed",
                details={"status": submission.status},
            )
        raise Conflict(
            "The request is submitted but not claimed: claim it before deciding it.",
            code="not_claimed",
            details={"status": submission.status},
        )
    outcome, reason, clauses, allowed_uses = _check_decision(
        submission, outcome, reason, clauses or [], allowed_uses
    )
    if outcome == Outcome.REJECTED and proposal is not None:
        return confirm_rejection(reviewer, submission, reason)
    decision = Decision(
        submission=submission,
        revision=submission.revision,
        reviewer_id=reviewer.id,
        outcome=outcome,
        reason=reason,
        clauses=clauses,
        allowed_uses=allowed_uses,
    )
    db.session.add(decision)
    if outcome == Outcome.REJECTED and submission.cohort.two_person_rule:
        decision.state = DecisionState.PROPOSED
        # The proposal is part of the request's state: bumping its version makes one of two
        # concurrent proposals fail instead of both landing.
        so.attributes.flag_modified(submission, "status")
        db.session.flush()
        _record(
            reviewer.actor,
            "submission.rejection_proposed",
            submission,
            Status(submission.status),
            decision_id=decision.id,
            reason=reason,
            clauses=clauses,
        )
        return decision
    if proposal is not None:
        proposal.state = DecisionState.OVERTURNED
    db.session.flush()
    _finalize(
        reviewer,
        submission,
        decision,
        "submission.decided",
        overturned_proposal_id=proposal.id if proposal else None,
    )
    return decision


def confirm_rejection(reviewer: User, submission: Submission, reason: str = "") -> Decision:
    """The second staff member makes a proposed rejection final. Audit: submission.decided."""
    proposal = pending_proposal(submission)
    if proposal is None:
        if submission.status == Status.REJECTED:
            raise InvalidTransition(
                "The request is already rejected: the rejection is final.",
                code="already_decided",
                details={"status": submission.status},
            )
        raise InvalidTransition(
            f"The request is {_state_words(submission.status)}; no rejection is waiting for"
            " confirmation on it.",
            details={"status": submission.status},
        )
    if proposal.reviewer_id == reviewer.id:
        raise Forbidden("A second staff member must confirm your proposed rejection.")
    proposal.state = DecisionState.FINAL
    proposal.confirmed_by_id = reviewer.id
    proposal.confirmed_at = utcnow()
    proposal.confirm_reason = (reason or "").strip() or None
    db.session.flush()
    _finalize(
        reviewer,
        submission,
        proposal,
        "submission.decided",
        proposed_by=proposal.reviewer_id,
        confirmed_by=reviewer.id,
    )
    return proposal


def rejection_participants(submission: Submission) -> set[int]:
    ids: set[int] = set()
    for decision in submission.decisions:
        if decision.outcome == Outcome.REJECTED:
            ids.update(i for i in (decision.reviewer_id, decision.confirmed_by_id) if i)
    return ids


def decide_appeal(reviewer: User, submission: Submission, outcome: str, reason: str) -> Appeal:
    """appealed → appeal_granted | appeal_upheld, by staff who took no part in the rejection.
    Audit: submission.appeal_decided."""
    errors = {}
    if outcome not in ("granted", "upheld"):
        errors["outcome"] = ["Use granted or upheld."]
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        errors["reason"] = [f"Give the reason in at least {MIN_REASON} characters."]
    if errors:
        raise ValidationError("The appeal decision is incomplete.", details=errors)
    if reviewer.id in rejection_participants(submission):
        raise Forbidden("You took part in the rejection; another staff member decides the appeal.")
    target = Status.APPEAL_GRANTED if outcome == "granted" else Status.APPEAL_UPHELD
    previous = _move(submission, target)
    appeal = submission.appeal
    now = utcnow()
    appeal.outcome = outcome
    appeal.reason = reason
    appeal.decided_by_id = reviewer.id
    appeal.decided_at = now
    submission.decided_at = now
    submission.queue_at = None
    if target == Status.APPEAL_GRANTED:
        submission.allowed_uses = [submission.intended_use]
    _record(
        reviewer.actor,
        "submission.appeal_decided",
        submission,
        previous,
        appeal_id=appeal.id,
        outcome=outcome,
        reason=reason,
    )
    if target == Status.APPEAL_GRANTED:
        credit_approved_output(submission)
    verdict = (
        "Appeal granted: you may share the output" if outcome == "granted" else "Appeal upheld"
    )
    lines = [f"{verdict}.", f"Reason: {reason}"]
    rejection = final_rejection(submission)
    if rejection is not None and rejection.clauses:
        lines += ["Clauses the rejection cited:", *_clause_lines(submission, rejection.clauses)]
    _notify(submission, verdict, lines)
    return appeal


# --- deadlines -----------------------------------------------------------------------------


@dataclass
class LapseResult:
    deemed_approved: int = 0
    escalated: int = 0


def apply_deadlines(now: dt.datetime | None = None) -> LapseResult:
    """Every open request past its deadline becomes deemed_approved (system, "review deadline
    passed") or is marked escalated, per cohort. Idempotent; concurrent runs skip locked rows.
    Audit: submission.deemed_approved / submission.escalated."""
    now = now or utcnow()
    query = (
        sa.select(Submission)
        .where(
            Submission.status.in_(list(OPEN_STATES)),
            Submission.due_at <= now,
            Submission.escalated_at.is_(None),
        )
        .order_by(Submission.due_at)
        .options(so.joinedload(Submission.cohort))
        .with_for_update(skip_locked=True, of=Submission)
    )
    result = LapseResult()
    for submission in db.session.scalars(query).unique():
        if submission.cohort.on_deadline == OnDeadline.ESCALATE:
            submission.escalated_at = now
            _record(
                SYSTEM,
                "submission.escalated",
                submission,
                Status(submission.status),
                reason=DEADLINE_REASON,
                due_at=submission.due_at.isoformat(),
            )
            _notify(
                submission,
                "Review overdue: escalated",
                [
                    "The review deadline passed without a decision; the request was escalated to"
                    " the program administrators.",
                    f"Reason: {DEADLINE_REASON}",
                ],
            )
            result.escalated += 1
            continue
        proposal = pending_proposal(submission)
        if proposal is not None:
            proposal.state = DecisionState.LAPSED
        decision = Decision(
            submission=submission,
            revision=submission.revision,
            reviewer_id=None,
            outcome=Outcome.DEEMED_APPROVED,
            reason=DEADLINE_REASON,
            clauses=[],
            allowed_uses=[submission.intended_use],
            decided_at=now,
        )
        db.session.add(decision)
        previous = _move(submission, Status.DEEMED_APPROVED)
        submission.decided_at = now
        submission.allowed_uses = decision.allowed_uses
        _stop_clock(submission)
        db.session.flush()
        _record(
            SYSTEM,
            "submission.deemed_approved",
            submission,
            previous,
            decision_id=decision.id,
            reason=DEADLINE_REASON,
            due_at=None,
        )
        credit_approved_output(submission)
        _notify(
            submission,
            "Deemed approved",
            [
                "Nobody decided your request before the review deadline, so it is deemed"
                " approved: you may share the output for its intended use.",
                f"Reason: {DEADLINE_REASON}",
            ],
        )
        result.deemed_approved += 1
    return result


# --- reading -------------------------------------------------------------------------------


@dataclass
class QueueFilters:
    cohort_id: int | None = None
    intended_use: str | None = None
    status: str | None = None
    overdue: bool | None = None
    artist_id: int | None = None


def list_query(filters: QueueFilters, *, queue_only: bool = False) -> sa.Select:
    """Requests with artist and cohort loaded in the same statement."""
    query = sa.select(Submission).options(
        so.joinedload(Submission.artist), so.joinedload(Submission.cohort)
    )
    if queue_only:
        query = query.where(Submission.queue_at.is_not(None)).order_by(
            Submission.queue_at, Submission.id
        )
    else:
        query = query.order_by(Submission.created_at.desc(), Submission.id.desc())
    if filters.artist_id is not None:
        query = query.where(Submission.artist_id == filters.artist_id)
    if filters.cohort_id is not None:
        query = query.where(Submission.cohort_id == filters.cohort_id)
    if filters.intended_use:
        query = query.where(Submission.intended_use == filters.intended_use)
    if filters.status:
        query = query.where(Submission.status == filters.status)
    if filters.overdue is not None:
        overdue = sa.and_(Submission.status.in_(list(OPEN_STATES)), Submission.due_at <= utcnow())
        query = query.where(overdue if filters.overdue else sa.not_(overdue))
    return query


@dataclass
class HistoryItem:
    seq: int
    when: dt.datetime
    who: str
    action: str
    what: str
    why: str | None
    clauses: list[PolicyClause]
    data: dict[str, Any]


ACTION_WORDS = {
    "submission.submitted": "Submitted",
    "submission.revised": "Revised and resubmitted",
    "submission.claimed": "Claimed for review",
    "submission.rejection_proposed": "Rejection proposed (waits for a second reviewer)",
    "submission.decided": "Decided",
    "submission.withdrawn": "Withdrawn by the artist",
    "submission.appealed": "Appealed",
    "submission.appeal_decided": "Appeal decided",
    "submission.deemed_approved": "Deemed approved (deadline passed)",
    "submission.escalated": "Escalated (deadline passed)",
}


def history(submission: Submission) -> list[HistoryItem]:
    """The request's whole record, from the audit chain, clauses resolved to their text."""
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.subject_type == "submission", AuditEvent.subject_id == str(submission.id))
        .order_by(AuditEvent.seq)
    ).all()
    clauses = {c.code: c for c in submission.terms.clauses}
    # People are shown by name (one query for all of them), not by the email in the audit label.
    user_ids = {e.actor_id for e in events if e.actor_type == "user" and e.actor_id}
    names = (
        dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(user_ids))).all())
        if user_ids
        else {}
    )
    items = []
    for event in events:
        data = event.data or {}
        what = ACTION_WORDS.get(event.action, event.action)
        if event.action == "submission.decided":
            what = f"Decided: {str(data.get('outcome', '')).replace('_', ' ')}"
        elif event.action == "submission.appeal_decided":
            what = f"Appeal {data.get('outcome')}"
        items.append(
            HistoryItem(
                seq=event.seq,
                when=event.occurred_at,
                who=names.get(event.actor_id, event.actor_label)
                if event.actor_type == "user"
                else event.actor_label,
                action=event.action,
                what=what,
                why=data.get("reason") or data.get("statement"),
                clauses=[clauses[c] for c in data.get("clauses") or [] if c in clauses],
                data=data,
            )
        )
    return items

"""Pages: artists' requests; the staff review queue and decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import orm as so

from access_program.accounts.forms import ConfirmForm
from access_program.accounts.models import Role, User
from access_program.accounts.permissions import page_user, role_required
from access_program.cohorts import service as cohorts
from access_program.cohorts.models import Cohort, OnDeadline
from access_program.db import utcnow
from access_program.errors import DomainError, Forbidden
from access_program.pagination import paginate
from access_program.reviews import service
from access_program.reviews.forms import (
    OUTCOME_LABELS,
    USE_LABELS,
    AppealDecisionForm,
    AppealForm,
    ConfirmRejectionForm,
    DecisionForm,
    RequestForm,
)
from access_program.reviews.models import (
    TRANSITIONS,
    Decision,
    DecisionState,
    Outcome,
    Status,
    Submission,
)
from access_program.templating import format_datetime

bp = Blueprint("reviews", __name__)

#: The states a request can be in while it sits in the review queue (staff owe an answer).
QUEUE_STATES = {
    Status.SUBMITTED.value: "Submitted (not claimed)",
    Status.IN_REVIEW.value: "In review",
    Status.APPEALED.value: "Appealed",
}
#: The status panel's edge colour (the status tag says it in words).
PANEL = {
    Status.APPROVED: "allowed",
    Status.DEEMED_APPROVED: "allowed",
    Status.APPEAL_GRANTED: "allowed",
    Status.CHANGES_REQUESTED: "paused",
    Status.REJECTED: "denied",
    Status.APPEAL_UPHELD: "denied",
}
ARTIST_PER_PAGE = 25
QUEUE_PER_PAGE = 50


# --- helpers -------------------------------------------------------------------------------


def _span(seconds: int) -> str:
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    days = seconds // 86400
    return f"{days} day" if days == 1 else f"{days} days"


def time_left(due_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """ "due in 2 days", "due in 5 h", "3 h overdue": a deadline at a glance (whole units,
    rounded down)."""
    if due_at is None:
        return None
    seconds = int((due_at - now).total_seconds())
    if seconds > 0:
        return f"due in {_span(seconds)}"
    return f"{_span(-seconds)} overdue"


def use_label(use: str) -> str:
    return USE_LABELS.get(use, use.replace("_", " "))


def _form_errors(form, exc: DomainError) -> None:
    """Put a service refusal next to the fields it names; a refusal no field owns is flashed."""
    placed = False
    for name, messages in (exc.details or {}).items():
        field = form._fields.get(name)
        if field is not None and isinstance(messages, list):
            field.errors = [*field.errors, *messages]
            placed = True
    if not placed:
        flash(exc.message, "error")


def _artist() -> User:
    user = page_user()
    if not user.is_artist:
        raise Forbidden(
            "These pages are for artists' own requests; staff review them in the review queue."
        )
    return user


def _request_data(form: RequestForm) -> dict[str, Any]:
    data = {name: form[name].data for name in service.REQUEST_FIELDS}
    data["output_sha256"] = (data["output_sha256"] or "").strip() or None
    return data


def _clauses_by_code(submission: Submission) -> dict[str, Any]:
    return {c.code: c for c in submission.terms.clauses}


def _decision_view(decision: Decision | None, clauses: dict[str, Any]) -> dict | None:
    """A decision as the pages show it: who, outcome, reason and the cited clauses' text."""
    if decision is None:
        return None
    return {
        "decision": decision,
        "who": decision.reviewer.name if decision.reviewer else "System",
        "outcome": decision.outcome,
        "reason": decision.reason,
        "clauses": [clauses[c] for c in decision.clauses or [] if c in clauses],
        "when": decision.decided_at,
        "confirmed_by": decision.confirmed_by.name if decision.confirmed_by else None,
        "confirmed_at": decision.confirmed_at,
        "confirm_note": decision.confirm_reason,
    }


def _latest_final(submission: Submission) -> Decision | None:
    finals = [d for d in submission.decisions if d.state == DecisionState.FINAL]
    return finals[-1] if finals else None


def _deadline_words(cohort: Cohort) -> str:
    if cohort.on_deadline == OnDeadline.ESCALATE:
        return "If nobody decides by then, it is escalated to the program administrators."
    return "If nobody decides by then, it is deemed approved and you may share it."


def _request_rows(submission: Submission) -> list[tuple[str, str]]:
    rows = [
        ("Title", submission.title),
        ("Description", submission.description or "—"),
        ("Output reference", submission.output_ref),
        ("SHA-256", submission.output_sha256 or "Not given"),
        ("Intended use", use_label(submission.intended_use)),
        ("Venue or channel", submission.venue or "—"),
        ("Planned date", format_datetime(submission.planned_date)),
        ("Revision", str(submission.revision)),
        ("First submitted", format_datetime(submission.created_at)),
    ]
    if submission.revision > 1:
        rows.append(("This revision submitted", format_datetime(submission.submitted_at)))
    return rows


# --- artist: their requests ----------------------------------------------------------------


def _artist_note(submission: Submission, now: dt.datetime) -> str:
    status = Status(submission.status)
    if submission.is_open:
        return time_left(submission.due_at, now) or ""
    if status == Status.CHANGES_REQUESTED:
        return "Waiting on you: revise and resubmit"
    if status == Status.REJECTED:
        return "You may appeal (see the request)"
    if status == Status.APPEALED:
        return "Appeal being decided"
    if submission.is_approved and submission.allowed_uses:
        return "Allowed: " + ", ".join(use_label(u) for u in submission.allowed_uses)
    return ""


@bp.get("/requests")
@login_required
def my_requests():
    user = _artist()
    page = paginate(
        service.list_query(service.QueueFilters(artist_id=user.id)), per_page=ARTIST_PER_PAGE
    )
    now = utcnow()
    rows = [
        {
            "submission": s,
            "use": use_label(s.intended_use),
            "note": _artist_note(s, now),
            "overdue": s.is_overdue(now),
        }
        for s in page.items
    ]
    return render_template("reviews/my_requests.html", page=page, rows=rows)


def _submit_blocker(membership) -> str | None:
    """Why this artist cannot submit now, in a sentence (None: they can)."""
    if membership is None:
        return "Only active members of a cohort can ask to share outputs."
    if membership.accepted_terms_id is None:
        return "Accept the program terms before you submit a request."
    return None


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required
def new_request():
    user = _artist()
    form = RequestForm()
    status = 200
    if form.validate_on_submit():
        try:
            submission = service.submit_request(user, _request_data(form))
        except DomainError as exc:
            _form_errors(form, exc)
            status = exc.status
        else:
            flash(
                f"Request “{submission.title}” submitted. The review deadline is"
                f" {format_datetime(submission.due_at)}.",
                "success",
            )
            return redirect(url_for("reviews.request_detail", submission_id=submission.id))
    elif form.is_submitted():
        status = 422
    membership = cohorts.active_membership(user)
    return render_template(
        "reviews/new.html",
        form=form,
        blocker=_submit_blocker(membership),
        review_hours=membership.cohort.review_hours if membership else None,
        deadline_words=_deadline_words(membership.cohort) if membership else "",
    ), status


def _artist_detail(
    user: User,
    submission: Submission,
    *,
    revise_form: RequestForm | None = None,
    appeal_form: AppealForm | None = None,
    status: int = 200,
):
    now = utcnow()
    current = Status(submission.status)
    clauses = _clauses_by_code(submission)
    moves = TRANSITIONS[current]
    appeal_deadline = None
    if current == Status.REJECTED and submission.appeal is None:
        appeal_deadline = service.appeal_deadline(submission, now)
    can_appeal = appeal_deadline is not None and now <= appeal_deadline
    can_revise = Status.SUBMITTED in moves
    if revise_form is None:
        revise_form = RequestForm(obj=submission, formdata=None)
    html = render_template(
        "reviews/detail.html",
        submission=submission,
        status=current,
        panel=PANEL.get(current, "neutral"),
        rows=_request_rows(submission),
        time_left=time_left(submission.due_at, now) if submission.is_open else None,
        overdue=submission.is_overdue(now),
        deadline_words=_deadline_words(submission.cohort),
        is_approved=submission.is_approved,
        allowed_uses=[use_label(u) for u in submission.allowed_uses or []],
        latest=_decision_view(_latest_final(submission), clauses),
        appeal=submission.appeal,
        appeal_deadline=appeal_deadline,
        appeal_window_closed=appeal_deadline is not None and not can_appeal,
        can_appeal=can_appeal,
        can_revise=can_revise,
        can_withdraw=Status.WITHDRAWN in moves,
        revise_form=revise_form,
        show_revise=can_revise or bool(revise_form.errors),
        appeal_form=appeal_form or AppealForm(formdata=None),
        show_appeal=can_appeal or bool(appeal_form and appeal_form.errors),
        history=service.history(submission),
    )
    return html, status


@bp.get("/requests/<int:submission_id>")
@login_required
def request_detail(submission_id: int):
    user = _artist()
    return _artist_detail(user, service.get_for_viewer(user, submission_id))


@bp.post("/requests/<int:submission_id>/revise")
@login_required
def revise(submission_id: int):
    user = _artist()
    submission = service.get_for_viewer(user, submission_id, lock=True)
    if Status.SUBMITTED not in TRANSITIONS[Status(submission.status)]:
        flash(
            f"Not revised: the request is {Status(submission.status).value.replace('_', ' ')};"
            " only a request waiting on your changes can be revised.",
            "error",
        )
        return _artist_detail(user, submission, status=409)
    form = RequestForm()
    if not form.validate_on_submit():
        return _artist_detail(user, submission, revise_form=form, status=422)
    try:
        service.revise_request(user, submission, _request_data(form))
    except DomainError as exc:
        _form_errors(form, exc)
        return _artist_detail(user, submission, revise_form=form, status=exc.status)
    flash(
        f"Revision {submission.revision} submitted. The new review deadline is"
        f" {format_datetime(submission.due_at)}.",
        "success",
    )
    return redirect(url_for("reviews.request_detail", submission_id=submission.id))


@bp.route("/requests/<int:submission_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw(submission_id: int):
    user = _artist()
    if request.method == "POST":
        submission = service.get_for_viewer(user, submission_id, lock=True)
        try:
            service.withdraw_request(user, submission)
        except DomainError as exc:
            flash(f"Not withdrawn: {exc.message}", "error")
            return _artist_detail(user, submission, status=exc.status)
        flash(f"Request “{submission.title}” withdrawn. Nobody will review it.", "success")
        return redirect(url_for("reviews.request_detail", submission_id=submission.id))
    submission = service.get_for_viewer(user, submission_id)
    if Status.WITHDRAWN not in TRANSITIONS[Status(submission.status)]:
        flash(
            f"The request is {Status(submission.status).value.replace('_', ' ')}:"
            " it can no longer be withdrawn.",
            "info",
        )
        return redirect(url_for("reviews.request_detail", submission_id=submission.id))
    return render_template(
        "reviews/withdraw_confirm.html", submission=submission, confirm=ConfirmForm()
    )


@bp.post("/requests/<int:submission_id>/appeal")
@login_required
def appeal(submission_id: int):
    user = _artist()
    submission = service.get_for_viewer(user, submission_id, lock=True)
    form = AppealForm()
    if not form.validate_on_submit():
        return _artist_detail(user, submission, appeal_form=form, status=422)
    try:
        service.appeal_request(user, submission, form.statement.data)
    except DomainError as exc:
        _form_errors(form, exc)
        return _artist_detail(user, submission, appeal_form=form, status=exc.status)
    flash(
        "Appeal sent. A staff member who took no part in the rejection decides it;"
        " you are emailed the outcome.",
        "success",
    )
    return redirect(url_for("reviews.request_detail", submission_id=submission.id))


# --- staff: the review queue ---------------------------------------------------------------


def _queue_filters() -> tuple[service.QueueFilters, dict[str, str]]:
    """The queue's GET filters; a value that is not one of the choices is ignored."""
    cohort_id = request.args.get("cohort_id", type=int)
    use = request.args.get("intended_use", "")
    state = request.args.get("status", "")
    filters = service.QueueFilters(
        cohort_id=cohort_id,
        intended_use=use if use in USE_LABELS else None,
        status=state if state in QUEUE_STATES else None,
    )
    chosen = {
        "cohort_id": str(filters.cohort_id) if filters.cohort_id else "",
        "intended_use": filters.intended_use or "",
        "status": filters.status or "",
    }
    return filters, chosen


def _queue_row(submission: Submission, viewer: User, now: dt.datetime) -> dict:
    """One row's flags, from columns the queue query loaded (no query per row)."""
    proposal = service.pending_proposal(submission)
    appealed = submission.status == Status.APPEALED
    return {
        "submission": submission,
        "use": use_label(submission.intended_use),
        "due": submission.queue_at,
        "time_left": time_left(submission.queue_at, now),
        "overdue": submission.queue_at is not None and submission.queue_at <= now,
        "escalated": submission.escalated_at is not None,
        "appealed": appealed,
        "proposed": proposal is not None,
        "proposed_by_viewer": proposal is not None and proposal.reviewer_id == viewer.id,
        "reviewer": _reviewer_text(submission, viewer, appealed),
    }


def _reviewer_text(submission: Submission, viewer: User, appealed: bool) -> str:
    if appealed:
        if viewer.id in service.rejection_participants(submission):
            return "Not you (you took part in the rejection)"
        return "Any staff member who took no part in the rejection"
    if submission.claimed_by_id is None:
        return "Nobody yet"
    if submission.claimed_by_id == viewer.id:
        return "You"
    return submission.claimed_by.name


@bp.get("/staff/review-queue")
@role_required(Role.STAFF)
def queue():
    viewer = page_user()
    filters, chosen = _queue_filters()
    # Decisions (for the proposed-rejection flag) and the claimer come in two more statements
    # for the whole page, whatever its length.
    query = service.list_query(filters, queue_only=True).options(
        so.selectinload(Submission.decisions), so.joinedload(Submission.claimed_by)
    )
    page = paginate(query, per_page=QUEUE_PER_PAGE)
    now = utcnow()
    return render_template(
        "reviews/queue.html",
        page=page,
        rows=[_queue_row(s, viewer, now) for s in page.items],
        cohort_choices={str(c.id): c.name for c in cohorts.list_cohorts()},
        use_choices=USE_LABELS,
        state_choices=QUEUE_STATES,
        chosen=chosen,
        filtered=any(chosen.values()),
    )


# --- staff: one request --------------------------------------------------------------------


def _decision_form(submission: Submission, *, overturn: bool, formdata: bool = True):
    form = DecisionForm() if formdata else DecisionForm(formdata=None)
    if overturn:
        form.outcome.choices = {
            k: v for k, v in OUTCOME_LABELS.items() if k != Outcome.REJECTED.value
        }
    form.clauses.choices = {c.code: f"{c.code} — {c.title}" for c in submission.terms.clauses}
    if not formdata:
        form.allowed_uses.data = [submission.intended_use]
    return form


def _staff_detail(
    viewer: User,
    submission: Submission,
    *,
    decision_form: DecisionForm | None = None,
    confirm_form: ConfirmRejectionForm | None = None,
    appeal_form: AppealDecisionForm | None = None,
    status: int = 200,
):
    now = utcnow()
    current = Status(submission.status)
    clauses = _clauses_by_code(submission)
    proposal = service.pending_proposal(submission) if submission.is_open else None
    own_proposal = proposal is not None and proposal.reviewer_id == viewer.id
    review_proposal = proposal is not None and not own_proposal
    claimed_by_viewer = submission.claimed_by_id == viewer.id
    can_decide = current == Status.IN_REVIEW and claimed_by_viewer and proposal is None
    participants = service.rejection_participants(submission)
    appealed = current == Status.APPEALED
    decision_makers = [
        d for d in submission.decisions if d.outcome == Outcome.REJECTED and d.reviewer
    ]
    participant_names = sorted(
        {d.reviewer.name for d in decision_makers}
        | {d.confirmed_by.name for d in decision_makers if d.confirmed_by}
    )
    if decision_form is None and (can_decide or review_proposal):
        decision_form = _decision_form(submission, overturn=review_proposal, formdata=False)
    html = render_template(
        "reviews/staff_detail.html",
        submission=submission,
        status=current,
        panel=PANEL.get(current, "neutral"),
        artist=submission.artist,
        rows=_request_rows(submission),
        time_left=time_left(submission.due_at, now) if submission.is_open else None,
        overdue=submission.is_overdue(now),
        escalated=submission.escalated_at is not None,
        allowed_uses=[use_label(u) for u in submission.allowed_uses or []],
        claimed_by=submission.claimed_by.name if submission.claimed_by else None,
        claimed_by_viewer=claimed_by_viewer,
        can_claim=Status.IN_REVIEW in TRANSITIONS[current],
        can_decide=can_decide,
        proposal=_decision_view(proposal, clauses),
        own_proposal=own_proposal,
        review_proposal=review_proposal,
        decision_form=decision_form,
        clause_list=submission.terms.clauses,
        terms_label=submission.terms.label,
        confirm_form=confirm_form or ConfirmRejectionForm(formdata=None),
        appeal=submission.appeal,
        can_decide_appeal=appealed and viewer.id not in participants,
        appeal_blocked=appealed and viewer.id in participants,
        participant_names=participant_names,
        appeal_form=appeal_form or AppealDecisionForm(formdata=None),
        latest=_decision_view(_latest_final(submission), clauses),
        history=service.history(submission),
        confirm=ConfirmForm(),
    )
    return html, status


@bp.get("/staff/requests/<int:submission_id>")
@role_required(Role.STAFF)
def staff_request(submission_id: int):
    return _staff_detail(page_user(), service.get_submission(submission_id))


def _back(submission: Submission):
    return redirect(url_for("reviews.staff_request", submission_id=submission.id))


@bp.post("/staff/requests/<int:submission_id>/claim")
@role_required(Role.STAFF)
def claim(submission_id: int):
    viewer = page_user()
    submission = service.get_submission(submission_id, lock=True)
    try:
        service.claim_request(viewer, submission)
    except DomainError as exc:
        flash(f"Not claimed: {exc.message}", "error")
        return _staff_detail(viewer, submission, status=exc.status)
    flash(
        f"You are reviewing “{submission.title}”. Decide by {format_datetime(submission.due_at)}.",
        "success",
    )
    return _back(submission)


DECIDED_WORDS = {
    Outcome.APPROVED: "approved",
    Outcome.CHANGES_REQUESTED: "sent back with changes requested",
    Outcome.REJECTED: "rejected",
}


@bp.post("/staff/requests/<int:submission_id>/decide")
@role_required(Role.STAFF)
def decide(submission_id: int):
    viewer = page_user()
    submission = service.get_submission(submission_id, lock=True)
    proposal = service.pending_proposal(submission) if submission.is_open else None
    overturn = proposal is not None and proposal.reviewer_id != viewer.id
    form = _decision_form(submission, overturn=overturn)
    if not form.validate_on_submit():
        return _staff_detail(viewer, submission, decision_form=form, status=422)
    try:
        decision = service.decide_request(
            viewer,
            submission,
            outcome=form.outcome.data,
            reason=form.reason.data or "",
            clauses=form.clauses.data or [],
            allowed_uses=form.allowed_uses.data or None,
        )
    except DomainError as exc:
        _form_errors(form, exc)
        return _staff_detail(viewer, submission, decision_form=form, status=exc.status)
    if decision.state == DecisionState.PROPOSED:
        flash(
            "Rejection proposed. A second staff member must confirm it; until then the request"
            " stays open and its deadline keeps running.",
            "success",
        )
    else:
        words = DECIDED_WORDS[Outcome(decision.outcome)]
        extra = " The proposed rejection is overturned." if overturn else ""
        flash(f"Request “{submission.title}” {words}.{extra} The artist is emailed.", "success")
    return _back(submission)


@bp.post("/staff/requests/<int:submission_id>/confirm-rejection")
@role_required(Role.STAFF)
def confirm_rejection(submission_id: int):
    viewer = page_user()
    submission = service.get_submission(submission_id, lock=True)
    form = ConfirmRejectionForm()
    if not form.validate_on_submit():
        return _staff_detail(viewer, submission, confirm_form=form, status=422)
    try:
        service.confirm_rejection(viewer, submission, form.note.data or "")
    except DomainError as exc:
        _form_errors(form, exc)
        return _staff_detail(viewer, submission, confirm_form=form, status=exc.status)
    flash(
        f"Rejection of “{submission.title}” confirmed. The artist is emailed the reason and the"
        " clauses, and may appeal within 14 days.",
        "success",
    )
    return _back(submission)


@bp.post("/staff/requests/<int:submission_id>/appeal-decision")
@role_required(Role.STAFF)
def appeal_decision(submission_id: int):
    viewer = page_user()
    submission = service.get_submission(submission_id, lock=True)
    form = AppealDecisionForm()
    if not form.validate_on_submit():
        return _staff_detail(viewer, submission, appeal_form=form, status=422)
    try:
        decided = service.decide_appeal(
            viewer, submission, form.outcome.data, form.reason.data or ""
        )
    except DomainError as exc:
        _form_errors(form, exc)
        return _staff_detail(viewer, submission, appeal_form=form, status=exc.status)
    if decided.outcome == "granted":
        flash(
            f"Appeal granted: “{submission.title}” is approved. The artist is emailed.", "success"
        )
    else:
        flash(f"Appeal upheld: the rejection of “{submission.title}” stands.", "success")
    return _back(submission)

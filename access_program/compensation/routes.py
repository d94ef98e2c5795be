"""Compensation pages: an artist's money (balance, contributions, payouts, statement, export);
staff deciding contributions, logging feedback sessions and marketing uses; admin adjustments."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import login_required

from access_program.accounts.forms import ConfirmForm
from access_program.accounts.models import Role, User
from access_program.accounts.permissions import page_user, role_required
from access_program.cohorts.models import Cohort, Membership, MembershipStatus
from access_program.compensation import service
from access_program.compensation.forms import (
    KIND_LABELS,
    AdjustmentForm,
    ContributionForm,
    DeclineForm,
    FeedbackSessionForm,
    MarketingUseForm,
    amount_to_minor,
)
from access_program.compensation.models import ContributionKind, ContributionStatus
from access_program.db import db
from access_program.errors import DomainError, Forbidden
from access_program.forms import form_errors, invalid_form_status
from access_program.pagination import paginate
from access_program.payouts import accounts
from access_program.payouts import service as payouts
from access_program.reviews.models import Status, Submission
from access_program.templating import money as format_money

bp = Blueprint("compensation", __name__)

PER_PAGE = 25
RECENT_PAYOUTS = 20
RECENT_ENTRIES = 10
APPROVED_STATES = (Status.APPROVED, Status.DEEMED_APPROVED, Status.APPEAL_GRANTED)
STATUS_FILTERS = {s.value: s.value.capitalize() for s in ContributionStatus}
ALL_KIND_LABELS = {k.value: service.kind_words(k).capitalize() for k in ContributionKind}
ACCOUNT_WORDS = {
    accounts.AccountStatus.NONE: "Not set up",
    accounts.AccountStatus.ONBOARDING: "Waiting for Stripe",
    accounts.AccountStatus.READY: "Ready",
}


# --- helpers -------------------------------------------------------------------------------


def _artist() -> User:
    user = page_user()
    if not user.is_artist:
        raise Forbidden("These pages show an artist's own money; staff use the staff pages.")
    return user


def _int_or_none(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _day_arg(name: str, errors: dict[str, str]) -> dt.date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = "Give a day as YYYY-MM-DD."
        return None


# --- artist: money -------------------------------------------------------------------------


def _money_page(user: User, form: ContributionForm, status: int = 200):
    ledger = service.ledger_page(user.id, 1, RECENT_ENTRIES)
    account = accounts.get_payout_account(user)
    account_status = accounts.account_status(account)
    contributions = paginate(service.contributions_query(artist_id=user.id), per_page=PER_PAGE)
    recent_payouts = list(
        db.session.scalars(payouts.payouts_query(artist_id=user.id).limit(RECENT_PAYOUTS))
    )
    return render_template(
        "compensation/money.html",
        ledger=ledger,
        payable=service.payable(user.id),
        leaving=service.is_leaving(user),
        account=account,
        account_status=account_status,
        account_words=ACCOUNT_WORDS[account_status],
        contributions=contributions,
        payouts=recent_payouts,
        form=form,
        kind_labels=ALL_KIND_LABELS,
        setup_form=ConfirmForm(),
    ), status


@bp.get("/money")
@login_required
def money():
    return _money_page(_artist(), ContributionForm(formdata=None))


@bp.post("/money/contributions")
@login_required
def propose():
    user = _artist()
    form = ContributionForm()
    if not form.validate_on_submit():
        return _money_page(user, form, invalid_form_status(form))
    kind = form.kind.data
    try:
        contribution = service.propose_contribution(
            user,
            kind=kind,
            title=form.title.data,
            description=form.description.data or "",
            link=form.link.data or None,
            severity=form.severity.data or None
            if kind != ContributionKind.FEEDBACK_SESSION
            else None,
            hours=(form.hours.data or None) if kind == ContributionKind.FEEDBACK_SESSION else None,
        )
    except DomainError as exc:
        form_errors(form, exc)
        return _money_page(user, form, exc.status)
    flash(
        f"{KIND_LABELS.get(kind, kind)} “{contribution.title}” proposed. Staff will accept or"
        " decline it.",
        "success",
    )
    return redirect(url_for("compensation.money") + "#contributions", code=303)


def _statement_period() -> tuple[dt.date | None, dt.date | None, dict[str, str]]:
    errors: dict[str, str] = {}
    return _day_arg("from", errors), _day_arg("to", errors), errors


@bp.get("/money/statement")
@login_required
def statement():
    user = _artist()
    date_from, date_to, errors = _statement_period()
    st = None
    if not errors:
        try:
            st = service.statement(user, date_from, date_to)
        except DomainError as exc:
            errors = {k: " ".join(map(str, v)) for k, v in (exc.details or {}).items()}
            errors = errors or {"to": exc.message}
    return render_template(
        "compensation/statement.html",
        st=st,
        errors=errors,
        chosen={"from": request.args.get("from", ""), "to": request.args.get("to", "")},
    ), (422 if errors else 200)


@bp.get("/money/statement.csv")
@login_required
def statement_csv():
    user = _artist()
    date_from, date_to, errors = _statement_period()
    if errors:
        return Response(
            "\n".join(f"{k}: {v}" for k, v in errors.items()), 422, mimetype="text/plain"
        )
    try:
        st = service.statement(user, date_from, date_to)
    except DomainError as exc:
        return Response(exc.message, exc.status, mimetype="text/plain")
    name = f"statement-{st.date_from.isoformat()}-{st.date_to.isoformat()}.csv"
    return Response(
        service.statement_csv(st),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/money/export")
@login_required
def export():
    user = _artist()
    data = service.export_artist_data(user)
    return Response(
        json.dumps(data, indent=2, default=str),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="my-data-{user.id}.json"'},
    )


# --- staff: contributions ------------------------------------------------------------------


def _queue_page(status: int = 200):
    chosen = {
        "status": request.args.get("status", ContributionStatus.PROPOSED.value),
        "kind": request.args.get("kind", ""),
    }
    query = service.contributions_query(
        status=chosen["status"] if chosen["status"] in STATUS_FILTERS else None,
        kind=chosen["kind"] if chosen["kind"] in ALL_KIND_LABELS else None,
    )
    return render_template(
        "compensation/staff_contributions.html",
        page=paginate(query, per_page=50),
        chosen=chosen,
        status_choices=STATUS_FILTERS,
        kind_choices=ALL_KIND_LABELS,
        kind_labels=ALL_KIND_LABELS,
        confirm_form=ConfirmForm(),
    ), status


@bp.get("/staff/contributions")
@role_required(Role.STAFF)
def staff_contributions():
    return _queue_page()


@bp.post("/staff/contributions/<int:contribution_id>/accept")
@role_required(Role.STAFF)
def accept(contribution_id: int):
    contribution = service.get_contribution(contribution_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form had expired. Try again.", "error")
        return _queue_page(400)
    try:
        contribution = service.accept_contribution(page_user(), contribution)
    except DomainError as exc:
        flash(exc.message, "error")
        return _queue_page(exc.status)
    amount = contribution.amount_minor
    flash(
        f"Accepted “{contribution.title}” from {contribution.artist.name}"
        + (f": {format_money(amount, contribution.currency)} credited." if amount else "."),
        "success",
    )
    return redirect(url_for("compensation.staff_contributions"), code=303)


@bp.route("/staff/contributions/<int:contribution_id>/decline", methods=["GET", "POST"])
@role_required(Role.STAFF)
def decline(contribution_id: int):
    contribution = service.get_contribution(contribution_id)
    form = DeclineForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.decline_contribution(page_user(), contribution, form.reason.data)
        except DomainError as exc:
            form_errors(form, exc)
            status = exc.status
        else:
            flash(
                f"Declined “{contribution.title}”. {contribution.artist.name} sees the reason.",
                "success",
            )
            return redirect(url_for("compensation.staff_contributions"), code=303)
    elif form.is_submitted():
        status = invalid_form_status(form)
    return render_template(
        "compensation/decline.html",
        contribution=contribution,
        form=form,
        kind_labels=ALL_KIND_LABELS,
    ), status


def _active_artists() -> dict[int, str]:
    rows = db.session.execute(
        sa.select(User.id, User.name, User.email, Cohort.name)
        .join(Membership, Membership.user_id == User.id)
        .join(Cohort, Cohort.id == Membership.cohort_id)
        .where(Membership.status == MembershipStatus.ACTIVE, User.role == Role.ARTIST)
        .order_by(User.name, User.id)
    )
    return {uid: f"{name or email} ({cohort})" for uid, name, email, cohort in rows}


@bp.route("/staff/feedback-sessions/new", methods=["GET", "POST"])
@role_required(Role.STAFF)
def new_feedback_session():
    form = FeedbackSessionForm()
    form.artist_ids.choices = _active_artists()
    status = 200
    if form.validate_on_submit():
        try:
            logged = service.log_feedback_session(
                page_user(),
                title=form.title.data,
                held_on=form.held_on.data,
                hours=form.hours.data,
                artist_ids=list(form.artist_ids.data),
            )
        except DomainError as exc:
            form_errors(form, exc)
            status = exc.status
        else:
            count = len(logged.contributions)
            flash(
                f"Feedback session “{logged.session.title}” logged: {count}"
                f" {'artist' if count == 1 else 'artists'} credited.",
                "success",
            )
            return redirect(url_for("compensation.new_feedback_session"), code=303)
    elif form.is_submitted():
        status = invalid_form_status(form)
    return render_template("compensation/feedback_session.html", form=form), status


def _approved_requests() -> dict[str, str]:
    rows = db.session.execute(
        sa.select(Submission.id, Submission.title, User.name)
        .join(User, User.id == Submission.artist_id)
        .where(Submission.status.in_([s.value for s in APPROVED_STATES]))
        .order_by(Submission.id.desc())
        .limit(500)
    )
    choices = {"": "Choose a request"}
    choices.update({str(sid): f"#{sid} {title} — {name}" for sid, title, name in rows})
    return choices


@bp.route("/staff/marketing-uses/new", methods=["GET", "POST"])
@role_required(Role.STAFF)
def new_marketing_use():
    form = MarketingUseForm()
    form.submission_id.choices = _approved_requests()
    status = 200
    if form.validate_on_submit():
        try:
            contribution = service.record_marketing_use(
                page_user(),
                submission_id=_int_or_none(form.submission_id.data),
                channel=form.channel.data,
                used_on=form.used_on.data,
            )
        except DomainError as exc:
            form_errors(form, exc)
            status = exc.status
        else:
            flash(
                f"Marketing use recorded: {contribution.artist.name} is credited"
                f" {format_money(contribution.amount_minor or 0, contribution.currency)}.",
                "success",
            )
            return redirect(url_for("compensation.new_marketing_use"), code=303)
    elif form.is_submitted():
        status = invalid_form_status(form)
    return render_template("compensation/marketing_use.html", form=form), status


# --- admin: adjustments --------------------------------------------------------------------


def _artists() -> dict[str, str]:
    rows = db.session.execute(
        sa.select(User.id, User.name, User.email)
        .where(User.role == Role.ARTIST)
        .order_by(User.name, User.id)
    )
    choices = {"": "Choose an artist"}
    choices.update({str(uid): f"{name or email} <{email}>" for uid, name, email in rows})
    return choices


@bp.route("/admin/adjustments/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_adjustment():
    form = AdjustmentForm()
    form.artist_id.choices = _artists()
    status = 200
    if form.validate_on_submit():
        amount = amount_to_minor(form.amount.data)
        if amount is None:
            form.amount.errors = [
                "Give the amount as a number with at most two decimals, for example 12.50."
            ]
            status = 422
        else:
            try:
                contribution = service.record_adjustment(
                    page_user(),
                    artist_id=_int_or_none(form.artist_id.data),
                    amount_minor=amount,
                    reason=form.reason.data,
                )
            except DomainError as exc:
                if exc.details and "amount_minor" in exc.details:
                    exc.details["amount"] = exc.details.pop("amount_minor")
                form_errors(form, exc)
                status = exc.status
            else:
                flash(
                    f"Adjustment of {format_money(amount, contribution.currency)} recorded for"
                    f" {contribution.artist.name}.",
                    "success",
                )
                return redirect(url_for("compensation.new_adjustment"), code=303)
    elif form.is_submitted():
        status = invalid_form_status(form)
    return render_template("compensation/adjustment.html", form=form), status

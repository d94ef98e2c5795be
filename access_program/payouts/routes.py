"""Payouts pages: an artist setting up their Stripe account; admins' payout runs."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import login_required

from access_program.accounts.forms import ConfirmForm
from access_program.accounts.models import Role
from access_program.accounts.permissions import page_user, role_required
from access_program.cohorts.models import Cohort
from access_program.db import db
from access_program.errors import DomainError, Forbidden
from access_program.forms import form_errors, invalid_form_status
from access_program.pagination import paginate
from access_program.payouts import accounts, service
from access_program.payouts.forms import CancelRunForm, RunForm
from access_program.payouts.models import PayoutRun, RunStatus

bp = Blueprint("payouts", __name__)


def _artist():
    user = page_user()
    if not user.is_artist:
        raise Forbidden("Only artists set up payouts: staff and admin accounts are not paid.")
    return user


def _start_onboarding():
    """Create the account (once) and a fresh link at Stripe; send the artist there."""
    user = _artist()
    refresh_url, return_url = accounts.onboarding_urls()
    try:
        url = accounts.start_onboarding(user, refresh_url=refresh_url, return_url=return_url)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("compensation.money") + "#payout-account", code=303)
    return redirect(url, code=303)


# --- artist: onboarding --------------------------------------------------------------------


@bp.post("/payouts/setup")
@login_required
def setup():
    ConfirmForm().validate_on_submit()  # CSRFProtect has already refused a missing token
    return _start_onboarding()


@bp.get("/payouts/setup/return")
@login_required
def setup_return():
    user = _artist()
    account = accounts.get_payout_account(user)
    return render_template(
        "payouts/setup_return.html", status=accounts.account_status(account), account=account
    )


@bp.get("/payouts/setup/refresh")
@login_required
def setup_refresh():
    """Stripe sends the artist here when a link expired or was used: make a new one. Only the
    link is new (Stripe keeps it); nothing of ours changes unless the account is missing."""
    user = _artist()
    if accounts.get_payout_account(user) is None:
        flash("Start setting up payouts from your money page.", "info")
        return redirect(url_for("compensation.money") + "#payout-account", code=303)
    return _start_onboarding()


# --- admin: payout runs --------------------------------------------------------------------


def _cohort_choices() -> dict[str, str]:
    choices = {"": "All cohorts"}
    for cohort in db.session.scalars(sa.select(Cohort).order_by(Cohort.name)):
        choices[str(cohort.id)] = cohort.name
    return choices


def _runs_page(form: RunForm, status: int = 200):
    page = paginate(service.runs_query(), per_page=25)
    summaries = {run.id: service.run_summary(run.id) for run in page.items}
    return render_template("payouts/runs.html", page=page, summaries=summaries, form=form), status


@bp.get("/admin/payout-runs")
@role_required(Role.ADMIN)
def runs():
    form = RunForm(formdata=None)
    form.cohort_id.choices = _cohort_choices()
    return _runs_page(form)


@bp.post("/admin/payout-runs")
@role_required(Role.ADMIN)
def create_run():
    form = RunForm()
    form.cohort_id.choices = _cohort_choices()
    if not form.validate_on_submit():
        return _runs_page(form, invalid_form_status(form))
    cohort_id = form.cohort_id.data
    try:
        cohort = service.get_cohort_for_run(int(cohort_id) if cohort_id else None)
        run = service.create_run(page_user(), cohort)
    except DomainError as exc:
        form_errors(form, exc)
        return _runs_page(form, exc.status)
    flash(f"Payout run {run.id} opened. Check the preview before you execute it.", "success")
    return redirect(url_for("payouts.run_detail", run_id=run.id), code=303)


def _run_view(run: PayoutRun) -> dict:
    payable = [line for line in run.preview if line.get("payable")]
    blocked = [line for line in run.preview if not line.get("payable")]
    open_payouts = [p for p in run.payouts if p.status in service.OPEN_STATUSES]
    totals: dict[str, int] = {}
    for payout in open_payouts:
        totals[payout.currency] = totals.get(payout.currency, 0) + payout.amount_minor
    return {
        "run": run,
        "payable": payable,
        "blocked": blocked,
        "totals": totals,
        "payouts": run.payouts,
        "open_payouts": open_payouts,
        "summary": service.run_summary(run.id),
        "can_execute": run.status in (RunStatus.PREVIEW, RunStatus.EXECUTING)
        and bool(open_payouts),
        "can_cancel": run.status == RunStatus.PREVIEW,
    }


@bp.get("/admin/payout-runs/<int:run_id>")
@role_required(Role.ADMIN)
def run_detail(run_id: int):
    run = service.get_run(run_id)
    return _run_page(run)


def _run_page(run: PayoutRun, status: int = 200, cancel_form: CancelRunForm | None = None):
    cancel_form = cancel_form or CancelRunForm(formdata=None)
    return render_template(
        "payouts/run_detail.html", **_run_view(run), form=ConfirmForm(), cancel_form=cancel_form
    ), status


@bp.post("/admin/payout-runs/<int:run_id>/cancel")
@role_required(Role.ADMIN)
def cancel(run_id: int):
    run = service.get_run(run_id)
    form = CancelRunForm()
    if not form.validate_on_submit():
        return _run_page(run, invalid_form_status(form), form)
    try:
        service.cancel_run(page_user(), run, form.reason.data or "")
    except DomainError as exc:
        flash(exc.message, "error")
        return _run_page(run, exc.status)
    flash(f"Payout run {run.id} cancelled: nothing was sent.", "success")
    return redirect(url_for("payouts.run_detail", run_id=run.id), code=303)


@bp.get("/admin/payout-runs/<int:run_id>/execute")
@role_required(Role.ADMIN)
def execute_confirm(run_id: int):
    run = service.get_run(run_id)
    view = _run_view(run)
    if not view["can_execute"]:
        flash(f"Payout run {run.id} has nothing to execute: it is {run.status}.", "error")
        return redirect(url_for("payouts.run_detail", run_id=run.id), code=303)
    return render_template("payouts/execute_confirm.html", **view, form=ConfirmForm())


@bp.post("/admin/payout-runs/<int:run_id>/execute")
@role_required(Role.ADMIN)
def execute(run_id: int):
    run = service.get_run(run_id)
    ConfirmForm().validate_on_submit()  # CSRFProtect has already refused a missing token
    try:
        run, result = service.execute_run(page_user(), run)
    except DomainError as exc:
        flash(exc.message, "error")
        return _run_page(run, exc.status)
    parts = [f"{result.paid} paid", f"{result.failed} failed"]
    if result.unanswered:
        parts.append(f"{result.unanswered} still waiting for Stripe (execute again to resume)")
    flash(
        f"Payout run {run.id} executed: " + ", ".join(parts) + ".",
        "success" if not result.failed and not result.unanswered else "info",
    )
    return redirect(url_for("payouts.run_detail", run_id=run.id), code=303)

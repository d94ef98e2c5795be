"""Pages: admin cohorts, invitations and terms; the invitation link; an artist's terms."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from access_program.accounts import service as accounts
from access_program.accounts.forms import ConfirmForm
from access_program.accounts.models import Role
from access_program.accounts.permissions import page_user, role_required
from access_program.cohorts import service
from access_program.cohorts.forms import (
    AcceptInvitationForm,
    AcceptTermsForm,
    CohortForm,
    InviteCsvForm,
    InviteForm,
    TermsForm,
)
from access_program.cohorts.models import SEVERITIES, CohortStatus, InvitationStatus, Terms
from access_program.errors import DomainError, NotFound, ValidationError
from access_program.pagination import paginate

bp = Blueprint("cohorts", __name__)

RATE_FIELDS = (
    "feedback_hour",
    *(f"bug_{s}" for s in SEVERITIES),
    *(f"red_team_{s}" for s in SEVERITIES),
    "approved_output",
    "marketing_use",
    "monthly_stipend",
    "minimum_payout",
)


def _form_errors(form, exc: DomainError) -> None:
    """Put a service refusal next to the fields it names (or on the form)."""
    placed = False
    for name, messages in (exc.details or {}).items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, *messages]
            placed = True
    if not placed:
        flash(exc.message, "error")


def _published_terms_choices() -> dict[int, str]:
    return {0: "— none yet —"} | {t.id: t.label for t in service.list_terms() if t.is_published}


def _cohort_fields(form: CohortForm) -> dict:
    data = {name: getattr(form, name).data for name in service.COHORT_FIELDS if hasattr(form, name)}
    data["description"] = data.get("description") or ""
    if form.terms_id.data:
        data["terms_id"] = form.terms_id.data
    return data


# --- admin: cohorts ------------------------------------------------------------------------


@bp.route("/admin/cohorts", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def cohorts():
    form = CohortForm()
    form.terms_id.choices = _published_terms_choices()
    if form.validate_on_submit():
        try:
            cohort = service.create_cohort(page_user().actor, **_cohort_fields(form))
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            flash(f"Cohort {cohort.name} created as a draft.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    rows = [
        {
            "cohort": c,
            "members": service.member_count(c),
            "pending": service.pending_invitation_count(c),
        }
        for c in service.list_cohorts()
    ]
    return render_template("cohorts/list.html", rows=rows, form=form)


@bp.get("/admin/cohorts/<int:cohort_id>")
@role_required(Role.ADMIN)
def cohort(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    settings = CohortForm(obj=cohort)
    settings.terms_id.choices = _published_terms_choices()
    settings.terms_id.data = cohort.terms_id or 0
    status = request.args.get("status") or None
    return render_template(
        "cohorts/detail.html",
        cohort=cohort,
        members=service.member_count(cohort),
        pending=service.pending_invitation_count(cohort),
        invitations=paginate(service.list_invitations(cohort, status), per_page=25),
        invitation_status=status,
        invitation_statuses=list(InvitationStatus),
        invite_form=InviteForm(),
        csv_form=InviteCsvForm(),
        settings=settings,
        confirm=ConfirmForm(),
        can_open=cohort.status == CohortStatus.DRAFT,
        can_close=cohort.status != CohortStatus.CLOSED,
        can_invite=cohort.status == CohortStatus.OPEN,
    )


@bp.post("/admin/cohorts/<int:cohort_id>/settings")
@role_required(Role.ADMIN)
def cohort_settings(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    form = CohortForm()
    form.terms_id.choices = _published_terms_choices()
    if form.validate_on_submit():
        try:
            service.update_cohort(page_user().actor, cohort, **_cohort_fields(form))
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash("Cohort settings saved.", "success")
    else:
        for name, messages in form.errors.items():
            flash(f"{getattr(form, name).label.text}: {'; '.join(messages)}", "error")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


@bp.post("/admin/cohorts/<int:cohort_id>/open")
@role_required(Role.ADMIN)
def open_cohort(cohort_id: int):
    cohort = service.open_cohort(page_user().actor, service.get_cohort(cohort_id))
    flash(f"{cohort.name} is open: you can send invitations.", "success")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


@bp.route("/admin/cohorts/<int:cohort_id>/close", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def close_cohort(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    if request.method == "POST":
        service.close_cohort(page_user().actor, cohort)
        flash(f"{cohort.name} is closed.", "success")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return render_template(
        "cohorts/close_confirm.html",
        cohort=cohort,
        members=service.member_count(cohort),
        pending=service.pending_invitation_count(cohort),
        confirm=ConfirmForm(),
    )


@bp.post("/admin/cohorts/<int:cohort_id>/invitations")
@role_required(Role.ADMIN)
def invite(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation, token = service.invite_artist(page_user().actor, cohort, form.email.data)
        except DomainError as exc:
            flash(f"Not sent: {exc.message}", "error")
        else:
            flash(f"Invitation sent to {invitation.email}.", "success")
            return render_template(
                "cohorts/invite_results.html",
                cohort=cohort,
                results=[
                    service.InviteResult(
                        invitation.email, "sent", "Invitation sent.", invitation, token
                    )
                ],
            )
    else:
        flash("Enter a valid email address.", "error")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


def _emails_from_csv(raw: bytes) -> list[str]:
    text = raw.decode("utf-8-sig", errors="replace")
    emails = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip():
            continue
        value = row[0].strip()
        if not emails and value.lower() in ("email", "e-mail", "email address"):
            continue
        emails.append(value)
    return emails


@bp.post("/admin/cohorts/<int:cohort_id>/invitations/csv")
@role_required(Role.ADMIN)
def invite_csv(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    form = InviteCsvForm()
    if not form.validate_on_submit():
        flash("Upload a CSV file with one email per row.", "error")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    emails = _emails_from_csv(form.csv_file.data.read())
    if not emails:
        flash("The file has no email addresses.", "error")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    results = service.invite_many(page_user().actor, cohort, emails[:1000])
    sent = sum(r.status == "sent" for r in results)
    flash(f"{sent} of {len(results)} invitations sent.", "success" if sent else "error")
    return render_template("cohorts/invite_results.html", cohort=cohort, results=results)


@bp.post("/admin/invitations/<int:invitation_id>/withdraw")
@role_required(Role.ADMIN)
def withdraw_invitation(invitation_id: int):
    invitation = service.withdraw_invitation(
        page_user().actor, service.get_invitation(invitation_id)
    )
    flash(f"Invitation to {invitation.email} withdrawn.", "success")
    return redirect(url_for("cohorts.cohort", cohort_id=invitation.cohort_id))


# --- admin: terms --------------------------------------------------------------------------


@bp.get("/admin/terms")
@role_required(Role.ADMIN)
def terms_list():
    return render_template("cohorts/terms_list.html", terms=service.list_terms())


def _parse_clauses(text: str) -> list[dict]:
    clauses = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|", 2)]
        if len(parts) != 3 or not all(parts):
            raise ValidationError(
                "Bad clause line.",
                details={"clauses": [f"Line {number}: write CODE | Title | Text."]},
            )
        clauses.append({"code": parts[0], "title": parts[1], "text": parts[2]})
    return clauses


def _rate_card(form: TermsForm) -> dict:
    data = {name: getattr(form, name).data or 0 for name in RATE_FIELDS}
    return {
        "currency": form.currency.data.upper(),
        "feedback_hour": data["feedback_hour"],
        "bug_report": {s: data[f"bug_{s}"] for s in SEVERITIES},
        "red_team_finding": {s: data[f"red_team_{s}"] for s in SEVERITIES},
        "approved_output": data["approved_output"],
        "marketing_use": data["marketing_use"],
        "monthly_stipend": data["monthly_stipend"],
        "minimum_payout": data["minimum_payout"],
    }


def _fill_terms_form(form: TermsForm, terms: Terms) -> None:
    form.label.data = terms.label
    form.body.data = terms.body
    form.clauses.data = "\n".join(f"{c.code} | {c.title} | {c.text}" for c in terms.clauses)
    if terms.rate_card:
        form.currency.data = terms.rate_card.currency
        for name in RATE_FIELDS:
            getattr(form, name).data = getattr(terms.rate_card, name)


@bp.route("/admin/terms/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def terms_new():
    form = TermsForm()
    if request.method == "GET" and request.args.get("from"):
        _fill_terms_form(form, service.get_terms(request.args.get("from", type=int) or 0))
        form.label.data = ""
    if form.validate_on_submit():
        try:
            terms = service.create_terms(
                page_user().actor,
                label=form.label.data,
                body=form.body.data,
                clauses=_parse_clauses(form.clauses.data),
                rate_card=_rate_card(form),
            )
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            flash(f"Draft {terms.label} saved. Publish it when it is final.", "success")
            return redirect(url_for("cohorts.terms_detail", terms_id=terms.id))
    return render_template("cohorts/terms_form.html", form=form, terms=None)


@bp.route("/admin/terms/<int:terms_id>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def terms_edit(terms_id: int):
    terms = service.get_terms(terms_id)
    if terms.is_published:
        flash("Published terms never change. Start a new version from them instead.", "error")
        return redirect(url_for("cohorts.terms_new", **{"from": terms.id}))
    form = TermsForm()
    if request.method == "GET":
        _fill_terms_form(form, terms)
    if form.validate_on_submit():
        try:
            service.update_terms(
                page_user().actor,
                terms,
                body=form.body.data,
                clauses=_parse_clauses(form.clauses.data),
                rate_card=_rate_card(form),
            )
        except DomainError as exc:
            _form_errors(form, exc)
        else:
            flash(f"Draft {terms.label} saved.", "success")
            return redirect(url_for("cohorts.terms_detail", terms_id=terms.id))
    return render_template("cohorts/terms_form.html", form=form, terms=terms)


@bp.get("/admin/terms/<int:terms_id>")
@role_required(Role.ADMIN)
def terms_detail(terms_id: int):
    terms = service.get_terms(terms_id)
    return render_template(
        "cohorts/terms_detail.html",
        terms=terms,
        confirm=ConfirmForm(),
        can_publish=not terms.is_published,
    )


@bp.post("/admin/terms/<int:terms_id>/publish")
@role_required(Role.ADMIN)
def terms_publish(terms_id: int):
    terms = service.publish_terms(page_user().actor, service.get_terms(terms_id))
    flash(f"{terms.label} is published and can no longer change.", "success")
    return redirect(url_for("cohorts.terms_detail", terms_id=terms.id))


# --- artists: their terms ------------------------------------------------------------------


@bp.get("/terms")
@login_required
def my_terms():
    user = page_user()
    membership = service.active_membership(user) or service.latest_membership(user)
    if membership is None or membership.cohort.terms is None:
        return render_template("cohorts/my_terms.html", membership=None, terms=None)
    terms = membership.cohort.terms
    needs = service.needs_terms_acceptance(membership)
    return render_template(
        "cohorts/my_terms.html",
        membership=membership,
        terms=terms,
        accepted=membership.accepted_terms,
        needs_acceptance=needs and membership.status == "active",
        diff=service.diff_terms(membership.accepted_terms, terms) if needs else None,
        acceptances=service.acceptances(user),
        form=AcceptTermsForm(),
    )


@bp.post("/terms/accept")
@login_required
def accept_terms():
    user = page_user()
    membership = service.active_membership(user)
    if membership is None:
        raise NotFound("You have no active membership.")
    form = AcceptTermsForm()
    if not form.validate_on_submit():
        flash("Tick the box to accept the terms.", "error")
        return redirect(url_for("cohorts.my_terms"))
    service.accept_terms_version(user, membership, membership.cohort.terms, request.remote_addr)
    flash(f"You accepted {membership.cohort.terms.label}.", "success")
    return redirect(url_for("access.dashboard"))


@bp.get("/terms/<int:terms_id>")
@login_required
def terms_version(terms_id: int):
    terms = service.get_terms(terms_id)
    if not terms.is_published:
        raise NotFound(f"No terms version {terms_id}.")
    return render_template("cohorts/terms_version.html", terms=terms)


# --- public: the invitation link -----------------------------------------------------------


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):
    inv = service.invitation_for_token(token)
    existing = accounts.get_user_by_email(inv.email)
    signed_in_as_invitee = current_user.is_authenticated and current_user.id == (
        existing.id if existing else None
    )
    form = AcceptInvitationForm()
    if signed_in_as_invitee:
        form.password.validators = []
    if form.validate_on_submit():
        try:
            membership = service.accept_invitation(
                token,
                accept_terms=form.accept_terms.data,
                ip=request.remote_addr,
                name=form.name.data,
                password=form.password.data,
                user=page_user() if signed_in_as_invitee else None,
            )
        except DomainError as exc:
            if exc.status == 410:
                raise
            _form_errors(form, exc)
        else:
            user = membership.user
            accounts.record_sign_in(user)
            login_user(user)
            flash(
                f"Welcome to {membership.cohort.name}. Your acceptance of the terms is recorded.",
                "success",
            )
            return redirect(url_for("access.dashboard"))
    return render_template(
        "cohorts/accept.html",
        invitation=inv,
        cohort=inv.cohort,
        terms=inv.cohort.terms,
        form=form,
        existing_account=existing is not None,
        signed_in_as_invitee=signed_in_as_invitee,
        confirm=ConfirmForm(),
    )


@bp.post("/invitations/<token>/decline")
def decline_invitation(token: str):
    inv = service.decline_invitation(token)
    flash(
        f"You declined the invitation to {inv.cohort.name}. Thank you for letting us know.", "info"
    )
    return redirect(url_for("accounts.login"))

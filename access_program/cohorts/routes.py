"""Pages: admin cohorts, invitations and terms; the invitation link; an artist's terms."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user
from markupsafe import Markup

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
from access_program.cohorts.models import (
    SEVERITIES,
    Cohort,
    CohortStatus,
    InvitationStatus,
    Terms,
)
from access_program.errors import DomainError, NotFound, ValidationError
from access_program.pagination import paginate

bp = Blueprint("cohorts", __name__)

#: One upload is one request and one transaction: keep it small enough to finish quickly.
MAX_CSV_ROWS = 1000

RATE_FIELDS = (
    "feedback_hour",
    *(f"bug_{s}" for s in SEVERITIES),
    *(f"red_team_{s}" for s in SEVERITIES),
    "approved_output",
    "marketing_use",
    "monthly_stipend",
    "minimum_payout",
)


def _form_errors(form, exc: DomainError, fallback=None) -> None:
    """Put a service refusal next to the fields it names, else on ``fallback``, else flash it."""
    placed = False
    for name, messages in (exc.details or {}).items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, *messages]
            placed = True
    if not placed and fallback is not None:
        fallback.errors = [*fallback.errors, exc.message]
    elif not placed:
        flash(exc.message, "error")


_HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")


@bp.app_template_filter("shift_headings")
def shift_headings(html: str, by: int = 1) -> Markup:
    """Move the headings of rendered terms down ``by`` levels (h1 -> h2 …, at most h6), so a
    terms body written with '#' sits under the page's own headings in the right order."""

    def shifted(match: re.Match) -> str:
        return f"<{match[1]}h{min(int(match[2]) + by, 6)}"

    return Markup(_HEADING_TAG.sub(shifted, str(html)))


def _refusal(exc: DomainError) -> str:
    """The refusal in one sentence, with the per-field reasons a button has no field for."""
    reasons = [m for messages in (exc.details or {}).values() for m in messages]
    return " ".join([exc.message, *reasons])


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
    status = 200
    if form.validate_on_submit():
        try:
            cohort = service.create_cohort(page_user().actor, **_cohort_fields(form))
        except DomainError as exc:
            _form_errors(form, exc, fallback=form.name)
            status = exc.status
        else:
            flash(f"Cohort {cohort.name} created as a draft.", "success")
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    elif form.is_submitted():
        status = 422
    rows = []
    for c in service.list_cohorts():
        members, pending = service.member_count(c), service.pending_invitation_count(c)
        rows.append(
            {"cohort": c, "members": members, "pending": pending, "seats_taken": members + pending}
        )
    return render_template("cohorts/list.html", rows=rows, form=form), status


def _detail_page(
    cohort: Cohort,
    *,
    settings: CohortForm | None = None,
    invite_form: InviteForm | None = None,
    csv_form: InviteCsvForm | None = None,
    status: int = 200,
):
    """The cohort page; a form that failed is passed in so its values and errors show."""
    if settings is None:
        settings = CohortForm(obj=cohort, formdata=None)
        settings.terms_id.data = cohort.terms_id or 0
    settings.terms_id.choices = _published_terms_choices()
    invitation_status = request.args.get("status") or None
    if invitation_status not in set(InvitationStatus):
        invitation_status = None
    members = service.member_count(cohort)
    pending = service.pending_invitation_count(cohort)
    invitations = paginate(service.list_invitations(cohort, invitation_status), per_page=25)
    # Links built for the cohort page itself: a form that failed re-renders this page at its
    # own (POST-only) address, where the generic pager links would lead nowhere.
    filters = {"status": invitation_status} if invitation_status else {}
    pager = SimpleNamespace(
        page=invitations.page,
        pages=invitations.pages,
        total=invitations.total,
        has_prev=invitations.has_prev,
        has_next=invitations.has_next,
        prev_url=url_for(
            "cohorts.cohort", cohort_id=cohort.id, page=invitations.page - 1, **filters
        ),
        next_url=url_for(
            "cohorts.cohort", cohort_id=cohort.id, page=invitations.page + 1, **filters
        ),
    )
    rows = [
        {"invitation": inv, "can_withdraw": inv.status == InvitationStatus.PENDING}
        for inv in invitations.items
    ]
    html = render_template(
        "cohorts/detail.html",
        cohort=cohort,
        members=members,
        pending=pending,
        seats_taken=members + pending,
        invitations=pager,
        invitation_rows=rows,
        invitation_status=invitation_status or "",
        invitation_statuses={s.value: s.value.capitalize() for s in InvitationStatus},
        invite_form=invite_form or InviteForm(formdata=None),
        csv_form=csv_form or InviteCsvForm(formdata=None),
        settings=settings,
        confirm=ConfirmForm(),
        can_open=cohort.status == CohortStatus.DRAFT,
        can_close=cohort.status != CohortStatus.CLOSED,
        can_invite=cohort.status == CohortStatus.OPEN,
        can_revoke_all=cohort.status == CohortStatus.OPEN and members > 0,
    )
    return html, status


@bp.get("/admin/cohorts/<int:cohort_id>")
@role_required(Role.ADMIN)
def cohort(cohort_id: int):
    return _detail_page(service.get_cohort(cohort_id))


@bp.post("/admin/cohorts/<int:cohort_id>/settings")
@role_required(Role.ADMIN)
def cohort_settings(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    form = CohortForm()
    form.terms_id.choices = _published_terms_choices()
    if not form.validate_on_submit():
        return _detail_page(cohort, settings=form, status=422)
    try:
        service.update_cohort(page_user().actor, cohort, **_cohort_fields(form))
    except DomainError as exc:
        _form_errors(form, exc, fallback=form.name)
        return _detail_page(cohort, settings=form, status=exc.status)
    flash("Cohort settings saved.", "success")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


@bp.post("/admin/cohorts/<int:cohort_id>/open")
@role_required(Role.ADMIN)
def open_cohort(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    try:
        service.open_cohort(page_user().actor, cohort)
    except DomainError as exc:
        flash(f"Not opened: {_refusal(exc)}", "error")
        return _detail_page(cohort, status=exc.status)
    flash(f"{cohort.name} is open: you can send invitations.", "success")
    return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))


@bp.route("/admin/cohorts/<int:cohort_id>/close", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def close_cohort(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    if request.method == "POST":
        try:
            service.close_cohort(page_user().actor, cohort)
        except DomainError as exc:
            flash(f"Not closed: {_refusal(exc)}", "error")
            return _detail_page(cohort, status=exc.status)
        flash(f"{cohort.name} is closed.", "success")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    if cohort.status == CohortStatus.CLOSED:
        flash(f"{cohort.name} is already closed.", "info")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return render_template(
        "cohorts/close_confirm.html",
        cohort=cohort,
        members=service.member_count(cohort),
        pending=service.pending_invitation_count(cohort),
        is_draft=cohort.status == CohortStatus.DRAFT,
        confirm=ConfirmForm(),
    )


@bp.post("/admin/cohorts/<int:cohort_id>/invitations")
@role_required(Role.ADMIN)
def invite(cohort_id: int):
    cohort = service.get_cohort(cohort_id)
    form = InviteForm()
    if not form.validate_on_submit():
        return _detail_page(cohort, invite_form=form, status=422)
    try:
        invitation, token = service.invite_artist(page_user().actor, cohort, form.email.data)
    except DomainError as exc:
        form.email.errors = [*form.email.errors, exc.details.get("email", [exc.message])[0]]
        return _detail_page(cohort, invite_form=form, status=exc.status)
    flash(f"Invitation sent to {invitation.email}.", "success")
    return render_template(
        "cohorts/invite_results.html",
        cohort=cohort,
        results=[
            service.InviteResult(invitation.email, "sent", "Invitation sent.", invitation, token)
        ],
        sent=1,
    )


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
        return _detail_page(cohort, csv_form=form, status=422)
    emails = _emails_from_csv(form.csv_file.data.read())
    if not emails:
        form.csv_file.errors = [*form.csv_file.errors, "The file has no email addresses."]
        return _detail_page(cohort, csv_form=form, status=422)
    if len(emails) > MAX_CSV_ROWS:
        form.csv_file.errors = [
            *form.csv_file.errors,
            f"The file has {len(emails)} rows; upload at most {MAX_CSV_ROWS} at a time.",
        ]
        return _detail_page(cohort, csv_form=form, status=422)
    results = service.invite_many(page_user().actor, cohort, emails)
    sent = sum(r.status == "sent" for r in results)
    flash(f"{sent} of {len(results)} invitations sent.", "success" if sent else "error")
    return render_template("cohorts/invite_results.html", cohort=cohort, results=results, sent=sent)


@bp.post("/admin/invitations/<int:invitation_id>/withdraw")
@role_required(Role.ADMIN)
def withdraw_invitation(invitation_id: int):
    invitation = service.get_invitation(invitation_id)
    try:
        service.withdraw_invitation(page_user().actor, invitation)
    except DomainError as exc:
        flash(f"Not withdrawn: {_refusal(exc)}", "error")
        return _detail_page(invitation.cohort, status=exc.status)
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
            _form_errors(form, exc, fallback=form.label)
            return render_template("cohorts/terms_form.html", form=form, terms=None), exc.status
        else:
            flash(f"Draft {terms.label} saved. Publish it when it is final.", "success")
            return redirect(url_for("cohorts.terms_detail", terms_id=terms.id))
    status = 422 if form.is_submitted() else 200
    return render_template("cohorts/terms_form.html", form=form, terms=None), status


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
    # The label names the version and does not change; the field is shown read-only.
    form.label.data = terms.label
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
            return render_template("cohorts/terms_form.html", form=form, terms=terms), exc.status
        else:
            flash(f"Draft {terms.label} saved.", "success")
            return redirect(url_for("cohorts.terms_detail", terms_id=terms.id))
    status = 422 if form.is_submitted() else 200
    return render_template("cohorts/terms_form.html", form=form, terms=terms), status


@bp.get("/admin/terms/<int:terms_id>")
@role_required(Role.ADMIN)
def terms_detail(terms_id: int):
    return _terms_detail_page(service.get_terms(terms_id))


def _terms_detail_page(terms: Terms, status: int = 200):
    return render_template(
        "cohorts/terms_detail.html",
        terms=terms,
        confirm=ConfirmForm(),
        can_publish=not terms.is_published,
        cohorts_using=[c for c in service.list_cohorts() if c.terms_id == terms.id],
    ), status


@bp.post("/admin/terms/<int:terms_id>/publish")
@role_required(Role.ADMIN)
def terms_publish(terms_id: int):
    terms = service.get_terms(terms_id)
    try:
        service.publish_terms(page_user().actor, terms)
    except DomainError as exc:
        flash(f"Not published: {_refusal(exc)}", "error")
        return _terms_detail_page(terms, exc.status)
    flash(f"{terms.label} is published and can no longer change.", "success")
    return redirect(url_for("cohorts.terms_detail", terms_id=terms.id))


# --- artists: their terms ------------------------------------------------------------------


RATE_LABELS = {
    "currency": "Currency",
    "feedback_hour": "Feedback, per hour",
    **{f"bug_report.{s}": f"Bug report, {s}" for s in SEVERITIES},
    **{f"red_team_finding.{s}": f"Red-team finding, {s}" for s in SEVERITIES},
    "approved_output": "Approved output",
    "marketing_use": "Marketing use of your output",
    "monthly_stipend": "Monthly stipend",
    "minimum_payout": "Minimum payout",
}

DIFF_LINE_KINDS = (
    ("+++", "file"),
    ("---", "file"),
    ("@@", "hunk"),
    ("+", "added"),
    ("-", "removed"),
)


def _diff_lines(lines: list[str]) -> list[dict]:
    """Unified-diff lines with their kind, so added and removed lines are marked in words too."""
    rows = []
    for line in lines:
        kind = next((k for prefix, k in DIFF_LINE_KINDS if line.startswith(prefix)), "context")
        rows.append({"kind": kind, "text": line})
    return rows


def _rate_changes(diff: service.TermsDiff, old: Terms | None, new: Terms) -> list[dict]:
    old_currency = old.rate_card.currency if old and old.rate_card else None
    new_currency = new.rate_card.currency if new.rate_card else None
    return [
        {
            "label": RATE_LABELS.get(key, key.replace("_", " ")),
            "old": before,
            "new": after,
            "is_money": key != "currency",
            "old_currency": old_currency,
            "new_currency": new_currency,
        }
        for key, before, after in diff.rates_changed
    ]


def _my_terms_page(user, form: AcceptTermsForm | None = None, status: int = 200):
    membership = service.active_membership(user) or service.latest_membership(user)
    if membership is None or membership.cohort.terms is None:
        return render_template("cohorts/my_terms.html", membership=None, terms=None), status
    terms = membership.cohort.terms
    accepted = membership.accepted_terms
    needs = service.needs_terms_acceptance(membership)
    diff = service.diff_terms(accepted, terms) if needs else None
    return render_template(
        "cohorts/my_terms.html",
        membership=membership,
        terms=terms,
        accepted=accepted,
        needs_acceptance=needs and membership.status == "active",
        membership_ended=membership.status != "active",
        diff=diff,
        diff_body=_diff_lines(diff.body) if diff else [],
        rate_changes=_rate_changes(diff, accepted, terms) if diff else [],
        acceptances=list(reversed(service.acceptances(user))),
        form=form or AcceptTermsForm(formdata=None),
    ), status


@bp.get("/terms")
@login_required
def my_terms():
    return _my_terms_page(page_user())


@bp.post("/terms/accept")
@login_required
def accept_terms():
    user = page_user()
    membership = service.active_membership(user)
    if membership is None:
        raise NotFound("You have no active membership.")
    form = AcceptTermsForm()
    if not form.validate_on_submit():
        return _my_terms_page(user, form, 422)
    terms = membership.cohort.terms
    if terms is None:
        raise NotFound("Your cohort has no terms yet.")
    try:
        service.accept_terms_version(user, membership, terms, request.remote_addr)
    except DomainError as exc:
        flash(exc.message, "error")
        return _my_terms_page(user, form, exc.status)
    flash(f"You accepted {terms.label}.", "success")
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
    status = 200
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
            status = exc.status
        else:
            user = membership.user
            accounts.record_sign_in(user)
            login_user(user)
            flash(
                f"Welcome to {membership.cohort.name}. Your acceptance of the terms is recorded.",
                "success",
            )
            return redirect(url_for("access.dashboard"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "cohorts/accept.html",
        invitation=inv,
        cohort=inv.cohort,
        terms=inv.cohort.terms,
        form=form,
        existing_account=existing is not None,
        signed_in_as_invitee=signed_in_as_invitee,
        signed_in_as_other=current_user.is_authenticated and not signed_in_as_invitee,
        decline_url=url_for("cohorts.decline_invitation", token=token),
    ), status


@bp.post("/invitations/<token>/decline")
def decline_invitation(token: str):
    inv = service.decline_invitation(token)
    flash(
        f"You declined the invitation to {inv.cohort.name}. Thank you for letting us know.", "info"
    )
    return redirect(url_for("accounts.login"))

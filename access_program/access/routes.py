"""Pages: the artist dashboard; staff and admin views of artists, grants and pauses."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from access_program.access import service
from access_program.access.forms import (
    EndPauseForm,
    ExternalIdForm,
    GrantForm,
    PauseForm,
    RevokeForm,
)
from access_program.access.models import Grant, Pause, PauseScope, ReasonCode
from access_program.accounts.forms import ConfirmForm
from access_program.accounts.models import Role, User
from access_program.accounts.permissions import is_admin, page_user, role_required
from access_program.cohorts import service as cohorts
from access_program.db import utcnow
from access_program.errors import DomainError, Forbidden
from access_program.pagination import paginate

bp = Blueprint("access", __name__)

PAUSE_CODES = {ReasonCode.COHORT_PAUSED, ReasonCode.PROGRAM_PAUSED}


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def access_summary(decision: service.Decision) -> dict[str, str]:
    """The decision in two words and a tag: active, paused (only a pause stands in the way),
    or no access."""
    if decision.allowed:
        return {"tag": "allowed", "label": "Access active"}
    if all(reason["code"] in PAUSE_CODES for reason in decision.reasons):
        return {"tag": "paused", "label": "Access paused"}
    return {"tag": "denied", "label": "No access"}


def duration_text(delta: dt.timedelta) -> str:
    """ "3 d 4 h", "5 h 20 min", "12 min": a pause's length at a glance."""
    minutes = int(delta.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _category_label(category: str | None) -> str:
    return (category or "").replace("_", " ").capitalize()


def _grant_rows(grants: list[Grant], now: dt.datetime) -> list[dict]:
    return [
        {
            "grant": g,
            "state": g.state(now),
            "category": _category_label(g.revoke_category),
            "can_revoke": g.revoked_at is None,
        }
        for g in grants
    ]


@bp.get("/dashboard")
@login_required
def dashboard():
    user = page_user()
    if not user.is_artist:
        raise Forbidden("The dashboard is for artists; use the navigation above.")
    membership = cohorts.active_membership(user) or cohorts.latest_membership(user)
    decision = service.decide_access(artist_id=user.id)
    now = utcnow()
    return render_template(
        "access/dashboard.html",
        user=user,
        decision=decision,
        summary=access_summary(decision),
        membership=membership,
        membership_active=bool(membership and membership.status == "active"),
        cohort=membership.cohort if membership else None,
        needs_terms=bool(
            membership
            and membership.status == "active"
            and cohorts.needs_terms_acceptance(membership)
        ),
        grants=_grant_rows(service.grants_for(user), now),
        now=now,
    )


@bp.get("/staff/artists")
@role_required(Role.STAFF)
def artists():
    cohort_id = request.args.get("cohort_id", type=int)
    q = request.args.get("q", "").strip()
    page = paginate(service.list_artists(cohort_id, q or None), per_page=50)
    rows = []
    for artist in page.items:
        decision = service.decide_access(artist_id=artist.id)
        rows.append({"artist": artist, "decision": decision, "summary": access_summary(decision)})
    all_cohorts = cohorts.list_cohorts()
    return render_template(
        "access/artists.html",
        page=page,
        rows=rows,
        cohort_choices={str(c.id): c.name for c in all_cohorts},
        cohort_id=str(cohort_id) if cohort_id else "",
        cohort_name=next((c.name for c in all_cohorts if c.id == cohort_id), None),
        q=q,
        filtered=bool(cohort_id or q),
    )


def _artist_page(artist: User, *, grant_form=None, external_form=None, status: int = 200):
    membership = cohorts.active_membership(artist) or cohorts.latest_membership(artist)
    now = utcnow()
    grants = service.grants_for(artist)
    admin = is_admin(page_user())
    decision = service.decide_access(artist_id=artist.id)
    return render_template(
        "access/artist.html",
        artist=artist,
        membership=membership,
        membership_active=bool(membership and membership.status == "active"),
        needs_terms=bool(
            membership
            and membership.status == "active"
            and cohorts.needs_terms_acceptance(membership)
        ),
        decision=decision,
        summary=access_summary(decision),
        grants=_grant_rows(grants, now),
        can_manage=admin,
        can_grant=admin
        and membership is not None
        and membership.status == "active"
        and not any(g.is_current(now) for g in grants),
        grant_form=grant_form or GrantForm(formdata=None),
        external_form=external_form or ExternalIdForm(obj=artist, formdata=None),
        confirm=ConfirmForm(),
    ), status


@bp.get("/staff/artists/<int:artist_id>")
@role_required(Role.STAFF)
def artist(artist_id: int):
    return _artist_page(service.get_artist(artist_id))


@bp.post("/admin/artists/<int:artist_id>/grants")
@role_required(Role.ADMIN)
def grant(artist_id: int):
    artist = service.get_artist(artist_id)
    form = GrantForm()
    membership = cohorts.active_membership(artist)
    if membership is None:
        flash("The artist has no active membership; invite them first.", "error")
        return _artist_page(artist, grant_form=form, status=409)
    if not form.validate_on_submit():
        return _artist_page(artist, grant_form=form, status=422)
    try:
        service.grant_access(
            page_user().actor, membership, expires_at=_as_utc(form.expires_at.data)
        )
    except DomainError as exc:
        form.expires_at.errors = [*form.expires_at.errors, exc.message]
        return _artist_page(artist, grant_form=form, status=exc.status)
    flash(f"Access granted to {artist.name}.", "success")
    return redirect(url_for("access.artist", artist_id=artist.id))


@bp.post("/admin/artists/<int:artist_id>/external-id")
@role_required(Role.ADMIN)
def external_id(artist_id: int):
    artist = service.get_artist(artist_id)
    form = ExternalIdForm()
    if not form.validate_on_submit():
        return _artist_page(artist, external_form=form, status=422)
    try:
        service.set_external_id(page_user().actor, artist, form.external_id.data)
    except DomainError as exc:
        form.external_id.errors = [*form.external_id.errors, exc.message]
        return _artist_page(artist, external_form=form, status=exc.status)
    flash("Generation tool id saved.", "success")
    return redirect(url_for("access.artist", artist_id=artist.id))


@bp.route("/admin/grants/<int:grant_id>/revoke", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def revoke(grant_id: int):
    grant = service.get_grant(grant_id)
    if grant.revoked_at is not None:
        flash(f"Grant {grant.id} is already revoked.", "info")
        return redirect(url_for("access.artist", artist_id=grant.user_id))
    form = RevokeForm()
    status = 200
    if form.validate_on_submit():
        try:
            service.revoke_grant(page_user().actor, grant, form.category.data, form.reason.data)
        except DomainError as exc:
            flash(exc.message, "error")
            status = exc.status
        else:
            flash(f"Access of {grant.user.name} revoked.", "success")
            return redirect(url_for("access.artist", artist_id=grant.user_id))
    elif form.is_submitted():
        status = 422
    return render_template(
        "access/revoke.html",
        grant=grant,
        artist=grant.user,
        cohort=grant.membership.cohort,
        form=form,
    ), status


@bp.route("/admin/cohorts/<int:cohort_id>/revoke-all", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def revoke_all(cohort_id: int):
    cohort = cohorts.get_cohort(cohort_id)
    form = RevokeForm()
    status = 200
    if form.validate_on_submit():
        try:
            count = service.revoke_all(
                page_user().actor, cohort, form.category.data, form.reason.data
            )
        except DomainError as exc:
            flash(exc.message, "error")
            status = exc.status
        else:
            flash(
                f"Revoked {count} {'grant' if count == 1 else 'grants'} in {cohort.name}.",
                "success",
            )
            return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    elif form.is_submitted():
        status = 422
    return render_template(
        "access/revoke_all.html", cohort=cohort, members=cohorts.member_count(cohort), form=form
    ), status


def _scope_choices() -> dict[str, str]:
    return {"global": "Everyone (the whole program)"} | {
        f"cohort:{c.id}": f"Cohort {c.name}" for c in cohorts.list_cohorts() if c.status == "open"
    }


def _pause_rows(pauses: list[Pause], now: dt.datetime) -> list[dict]:
    return [
        {
            "pause": p,
            "duration": duration_text(p.duration(now)),
            "started_by": p.started_by.name if p.started_by else "System",
            "ended_by": p.ended_by.name if p.ended_by else ("System" if p.ended_at else None),
            "is_open": p.is_open,
        }
        for p in pauses
    ]


def _fresh_pause_form() -> PauseForm:
    form = PauseForm(formdata=None)
    form.scope.choices = _scope_choices()
    return form


def _pauses_page(form: PauseForm, status: int = 200):
    now = utcnow()
    page = paginate(service.list_pauses(), per_page=25)
    return render_template(
        "access/pauses.html",
        form=form,
        page=page,
        rows=_pause_rows(page.items, now),
        now=now,
    ), status


@bp.route("/admin/pauses", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def pauses():
    form = PauseForm()
    form.scope.choices = _scope_choices()
    if not form.is_submitted():
        return _pauses_page(form)
    if not form.validate_on_submit():
        return _pauses_page(form, 422)
    _, _, cohort_id = form.scope.data.partition(":")
    cohort = cohorts.get_cohort(int(cohort_id)) if cohort_id else None
    expected_end_at = _as_utc(form.expected_end.data)
    if expected_end_at is not None and expected_end_at <= utcnow():
        form.expected_end.errors = [
            *form.expected_end.errors,
            "The expected end must be in the future.",
        ]
        return _pauses_page(form, 422)
    if request.form.get("confirmed") != "yes":
        return render_template(
            "access/pause_confirm.html",
            form=form,
            cohort=cohort,
            scope_label=f"Cohort {cohort.name}" if cohort else "Everyone (the whole program)",
            affected=cohorts.member_count(cohort) if cohort else service.count_active_artists(),
            expected_end_at=expected_end_at,
            resubmit={
                "scope": form.scope.data,
                "reason": form.reason.data,
                "expected_end": request.form.get("expected_end", ""),
            },
        )
    try:
        pause = service.start_pause(
            page_user().actor,
            scope=PauseScope.COHORT if cohort else PauseScope.GLOBAL,
            cohort=cohort,
            reason=form.reason.data,
            expected_end_at=expected_end_at,
        )
    except DomainError as exc:
        flash(f"Not paused: {exc.message}", "error")
        return _pauses_page(form, exc.status)
    flash(
        f"Access paused: {pause.scope_label}. Affected artists are being emailed.",
        "success",
    )
    return redirect(url_for("access.pauses"))


@bp.post("/admin/pauses/<int:pause_id>/end")
@role_required(Role.ADMIN)
def end_pause(pause_id: int):
    form = EndPauseForm()
    pause = service.get_pause(pause_id)
    if not form.validate_on_submit():
        flash("The note is too long (at most 5000 characters).", "error")
        return _pauses_page(_fresh_pause_form(), 422)
    try:
        service.end_pause(page_user().actor, pause, form.note.data)
    except DomainError as exc:
        flash(f"Not ended: {exc.message}", "error")
        return _pauses_page(_fresh_pause_form(), exc.status)
    flash(f"Pause ended: {pause.scope_label}. Access resumes at once.", "success")
    return redirect(url_for("access.pauses"))

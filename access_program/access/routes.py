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
from access_program.access.models import PauseScope
from access_program.accounts.forms import ConfirmForm
from access_program.accounts.models import Role
from access_program.accounts.permissions import is_admin, page_user, role_required
from access_program.cohorts import service as cohorts
from access_program.db import utcnow
from access_program.errors import DomainError, Forbidden
from access_program.pagination import paginate

bp = Blueprint("access", __name__)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None


@bp.get("/dashboard")
@login_required
def dashboard():
    user = page_user()
    if not user.is_artist:
        raise Forbidden("The dashboard is for artists; use the navigation above.")
    membership = cohorts.active_membership(user) or cohorts.latest_membership(user)
    decision = service.decide_access(artist_id=user.id)
    return render_template(
        "access/dashboard.html",
        user=user,
        decision=decision,
        membership=membership,
        cohort=membership.cohort if membership else None,
        needs_terms=bool(
            membership
            and membership.status == "active"
            and cohorts.needs_terms_acceptance(membership)
        ),
        grants=service.grants_for(user),
        now=utcnow(),
    )


@bp.get("/staff/artists")
@role_required(Role.STAFF)
def artists():
    cohort_id = request.args.get("cohort_id", type=int)
    q = request.args.get("q", "").strip()
    page = paginate(service.list_artists(cohort_id, q or None), per_page=50)
    rows = [{"artist": a, "decision": service.decide_access(artist_id=a.id)} for a in page.items]
    return render_template(
        "access/artists.html",
        page=page,
        rows=rows,
        cohorts=cohorts.list_cohorts(),
        cohort_id=cohort_id,
        q=q,
    )


@bp.get("/staff/artists/<int:artist_id>")
@role_required(Role.STAFF)
def artist(artist_id: int):
    artist = service.get_artist(artist_id)
    membership = cohorts.active_membership(artist) or cohorts.latest_membership(artist)
    external = ExternalIdForm(obj=artist)
    now = utcnow()
    grants = service.grants_for(artist)
    return render_template(
        "access/artist.html",
        artist=artist,
        membership=membership,
        decision=service.decide_access(artist_id=artist.id),
        grants=[{"grant": g, "state": g.state(now)} for g in grants],
        can_manage=is_admin(page_user()),
        can_grant=is_admin(page_user())
        and membership is not None
        and membership.status == "active"
        and not any(g.is_current(now) for g in grants),
        grant_form=GrantForm(),
        external_form=external,
        confirm=ConfirmForm(),
    )


@bp.post("/admin/artists/<int:artist_id>/grants")
@role_required(Role.ADMIN)
def grant(artist_id: int):
    artist = service.get_artist(artist_id)
    form = GrantForm()
    membership = cohorts.active_membership(artist)
    if membership is None:
        flash("The artist has no active membership; invite them first.", "error")
    elif form.validate_on_submit():
        try:
            service.grant_access(
                page_user().actor, membership, expires_at=_as_utc(form.expires_at.data)
            )
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Access granted to {artist.name}.", "success")
    else:
        flash("Check the expiry date.", "error")
    return redirect(url_for("access.artist", artist_id=artist.id))


@bp.post("/admin/artists/<int:artist_id>/external-id")
@role_required(Role.ADMIN)
def external_id(artist_id: int):
    artist = service.get_artist(artist_id)
    form = ExternalIdForm()
    if form.validate_on_submit():
        try:
            service.set_external_id(page_user().actor, artist, form.external_id.data)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash("Generation tool id saved.", "success")
    return redirect(url_for("access.artist", artist_id=artist.id))


@bp.route("/admin/grants/<int:grant_id>/revoke", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def revoke(grant_id: int):
    grant = service.get_grant(grant_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            service.revoke_grant(page_user().actor, grant, form.category.data, form.reason.data)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Access of {grant.user.name} revoked.", "success")
            return redirect(url_for("access.artist", artist_id=grant.user_id))
    return render_template("access/revoke.html", grant=grant, artist=grant.user, form=form)


@bp.route("/admin/cohorts/<int:cohort_id>/revoke-all", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def revoke_all(cohort_id: int):
    cohort = cohorts.get_cohort(cohort_id)
    form = RevokeForm()
    if form.validate_on_submit():
        count = service.revoke_all(page_user().actor, cohort, form.category.data, form.reason.data)
        flash(f"Revoked {count} grant(s) in {cohort.name}.", "success")
        return redirect(url_for("cohorts.cohort", cohort_id=cohort.id))
    return render_template(
        "access/revoke_all.html", cohort=cohort, members=cohorts.member_count(cohort), form=form
    )


def _scope_choices() -> dict[str, str]:
    return {"global": "Everyone (the whole program)"} | {
        f"cohort:{c.id}": f"Cohort {c.name}" for c in cohorts.list_cohorts() if c.status == "open"
    }


@bp.route("/admin/pauses", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def pauses():
    form = PauseForm()
    form.scope.choices = _scope_choices()
    if form.validate_on_submit():
        scope, _, cohort_id = form.scope.data.partition(":")
        cohort = cohorts.get_cohort(int(cohort_id)) if cohort_id else None
        affected = cohorts.member_count(cohort) if cohort else None
        if request.form.get("confirmed") == "yes":
            try:
                pause = service.start_pause(
                    page_user().actor,
                    scope=PauseScope.COHORT if cohort else PauseScope.GLOBAL,
                    cohort=cohort,
                    reason=form.reason.data,
                    expected_end_at=_as_utc(form.expected_end.data),
                )
            except DomainError as exc:
                flash(exc.message, "error")
            else:
                flash(
                    f"Access paused: {pause.scope_label}. Affected artists are being emailed.",
                    "success",
                )
                return redirect(url_for("access.pauses"))
        else:
            return render_template(
                "access/pause_confirm.html",
                form=form,
                cohort=cohort,
                affected=affected if cohort else service.count_active_artists(),
            )
    return render_template(
        "access/pauses.html",
        form=form,
        page=paginate(service.list_pauses(), per_page=25),
        end_form=EndPauseForm(),
        now=utcnow(),
    )


@bp.post("/admin/pauses/<int:pause_id>/end")
@role_required(Role.ADMIN)
def end_pause(pause_id: int):
    form = EndPauseForm()
    form.validate_on_submit()
    pause = service.end_pause(page_user().actor, service.get_pause(pause_id), form.note.data)
    flash(f"Pause ended: {pause.scope_label}. Access resumes at once.", "success")
    return redirect(url_for("access.pauses"))

"""Pages: the admin audit log and an artist's own record."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request
from flask_login import login_required

from access_program.accounts.models import Role
from access_program.accounts.permissions import page_user, role_required
from access_program.audit.service import head, query_events
from access_program.pagination import paginate

bp = Blueprint("audit", __name__)


def _day(name: str) -> dt.datetime | None:
    raw = request.args.get(name, "").strip()
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=dt.UTC) if raw else None
    except ValueError:
        return None


@bp.get("/admin/audit")
@role_required(Role.ADMIN)
def events():
    filters = {
        "action": request.args.get("action", "").strip() or None,
        "artist_id": request.args.get("artist_id", type=int),
        "since": _day("since"),
        "until": _day("until"),
    }
    seq, head_hash = head()
    return render_template(
        "audit/events.html",
        page=paginate(query_events(**filters), per_page=50),
        filters={k: request.args.get(k, "") for k in filters},
        head_seq=seq,
        head_hash=head_hash,
    )


@bp.get("/me/record")
@login_required
def my_record():
    user = page_user()
    return render_template(
        "audit/my_record.html", page=paginate(query_events(artist_id=user.id), per_page=50)
    )

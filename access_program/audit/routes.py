"""Pages: the admin audit log and an artist's own record."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from access_program.accounts.models import Role
from access_program.accounts.permissions import page_user, role_required
from access_program.audit.models import AuditEvent
from access_program.audit.service import head, query_events
from access_program.pagination import paginate

bp = Blueprint("audit", __name__)

DATE_HINT = "Use a date such as 2027-01-31 (times are UTC)."


def _day(name: str, errors: dict[str, str], *, end_of_day: bool = False) -> dt.datetime | None:
    """A date (or date and time) from the query string, as UTC; bad values become an error.

    A bare ``until`` date includes that whole day.
    """
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        errors[name] = DATE_HINT
        return None
    value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if end_of_day and len(raw) == 10:
        value += dt.timedelta(days=1)
    return value


def compact_json(data: Any) -> str:
    return json.dumps(data or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@bp.get("/admin/audit")
@role_required(Role.ADMIN)
def events():
    errors: dict[str, str] = {}
    raw_artist = request.args.get("artist_id", "").strip()
    artist_id = None
    if raw_artist:
        if raw_artist.isdigit():
            artist_id = int(raw_artist)
        else:
            errors["artist_id"] = "Use the artist's number, such as 42."
    filters = {
        "action": request.args.get("action", "").strip() or None,
        "artist_id": artist_id,
        "since": _day("since", errors),
        "until": _day("until", errors, end_of_day=True),
    }
    seq, head_hash = head()
    page = paginate(query_events(**filters), per_page=50)
    return render_template(
        "audit/events.html",
        page=page,
        rows=[{"event": e, "data": compact_json(e.data)} for e in page.items],
        filters={k: request.args.get(k, "") for k in filters},
        filtered=any(v is not None for v in filters.values()),
        errors=errors,
        head_seq=seq,
        head_hash=head_hash,
    )


#: What an event means to the artist it concerns, in plain words.
RECORD_WORDS = {
    "user.created": "Your account was created",
    "user.signed_in": "You signed in",
    "user.signed_out": "You signed out",
    "user.disabled": "Your account was disabled",
    "user.enabled": "Your account was enabled again",
    "invitation.sent": "You were invited to a cohort",
    "invitation.accepted": "You accepted the invitation and joined the cohort",
    "invitation.declined": "The invitation was declined",
    "invitation.expired": "Your invitation expired",
    "invitation.withdrawn": "Your invitation was withdrawn",
    "terms.accepted": "You accepted terms",
    "grant.created": "Tool access was granted",
    "grant.revoked": "Tool access was revoked",
    "membership.ended": "Your membership ended",
    "artist.external_id_set": "Your generation-tool account was linked",
    "token.created": "An API token was created for you",
    "token.revoked": "An API token was revoked",
}


def _record_item(event: AuditEvent, viewer_id: int) -> dict[str, Any]:
    data = event.data or {}
    what = RECORD_WORDS.get(event.action, event.action.replace(".", ": ").replace("_", " "))
    if event.action == "terms.accepted" and data.get("label"):
        what = f"You accepted terms {data['label']}"
    if event.actor_type == "user" and event.actor_id == viewer_id:
        who = None  # the sentence already says "You …"
    elif event.actor_type == "system":
        who = f"the system ({event.actor_label})"
    else:
        who = event.actor_label
    why = None
    if event.action == "grant.revoked":
        category = str(data.get("category", "")).replace("_", " ")
        why = (
            f"{category.capitalize()}: {data.get('reason', '')}" if category else data.get("reason")
        )
    elif data.get("why"):
        why = str(data["why"]).capitalize()
    return {
        "what": what,
        "who": who,
        "when": event.occurred_at,
        "why": why,
        "clauses": [],
        "seq": event.seq,
        "action": event.action,
    }


@bp.get("/me/record")
@login_required
def my_record():
    user = page_user()
    page = paginate(query_events(artist_id=user.id), per_page=50)
    return render_template(
        "audit/my_record.html",
        page=page,
        items=[_record_item(e, user.id) for e in page.items],
        is_artist=user.is_artist,
    )

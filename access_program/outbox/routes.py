"""Admin: read the outbox."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from access_program.accounts.models import Role
from access_program.accounts.permissions import role_required
from access_program.outbox.models import OutboxMessage
from access_program.pagination import paginate

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

STATES = {"": "Any", "queued": "Not sent yet", "sent": "Sent", "failing": "Failing"}


@bp.get("")
@role_required(Role.ADMIN)
def messages():
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())
    kind = request.args.get("kind", "").strip()
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    state = request.args.get("state", "")
    if state not in STATES:
        state = ""
    if state == "sent":
        query = query.where(OutboxMessage.sent_at.is_not(None))
    elif state == "queued":
        query = query.where(OutboxMessage.sent_at.is_(None))
    elif state == "failing":
        query = query.where(OutboxMessage.sent_at.is_(None), OutboxMessage.last_error.is_not(None))
    page = paginate(query)
    rows = [
        {
            "message": m,
            "state": "sent" if m.sent_at else ("failed" if m.last_error else "pending"),
            "state_label": "sent" if m.sent_at else ("failing" if m.last_error else "not sent yet"),
        }
        for m in page.items
    ]
    return render_template(
        "outbox/messages.html",
        page=page,
        rows=rows,
        kind=kind,
        state=state,
        states=STATES,
        filtered=bool(kind or state),
    )

"""Admin: read the outbox."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from access_program.accounts.models import Role
from access_program.accounts.permissions import role_required
from access_program.outbox.models import OutboxMessage
from access_program.pagination import paginate

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")


@bp.get("")
@role_required(Role.ADMIN)
def messages():
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())
    kind = request.args.get("kind", "").strip()
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    return render_template("outbox/messages.html", page=paginate(query), kind=kind)

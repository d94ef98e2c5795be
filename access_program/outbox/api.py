"""Admins read the outbox (every email the program sent or will send)."""

from __future__ import annotations

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.accounts.models import Role
from access_program.accounts.permissions import api_auth
from access_program.outbox.models import OutboxMessage
from access_program.outbox.schemas import OutboxMessageSchema
from access_program.pagination import SelectPage

blp = Blueprint("outbox_api", __name__, description="Outgoing email")


@blp.route("/outbox")
class Outbox(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, OutboxMessageSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self):
        """Queued and sent messages, newest first."""
        return sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())

"""Audit events API: admins read everything, artists their own record."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.accounts.permissions import api_auth, api_user, is_admin
from access_program.audit.schemas import AuditEventSchema, AuditQuerySchema
from access_program.audit.service import query_events
from access_program.errors import Forbidden
from access_program.pagination import SelectPage

blp = Blueprint("audit_api", __name__, description="The audit chain")


@blp.route("/audit-events")
class AuditEvents(MethodView):
    @api_auth()
    @blp.arguments(AuditQuerySchema, location="query")
    @blp.response(200, AuditEventSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Events newest first (filters `action`, `artist_id`, `since`, `until`).

        Admins see all; an artist sees only the events about themselves."""
        user = api_user()
        if not is_admin(user):
            if not user.is_artist:
                raise Forbidden("Only admins read the whole audit log.")
            args["artist_id"] = user.id
        return query_events(**args)

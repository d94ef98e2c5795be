"""The public transparency report API: no token needed."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.extensions import limiter
from access_program.transparency import rate_limit
from access_program.transparency.schemas import TransparencyQuerySchema, TransparencyReportSchema
from access_program.transparency.service import build_report

blp = Blueprint("transparency_api", __name__, description="The public transparency report")


@blp.route("/transparency")
class Transparency(MethodView):
    decorators = [limiter.limit(rate_limit)]

    @blp.arguments(TransparencyQuerySchema, location="query")
    @blp.response(200, TransparencyReportSchema)
    @blp.alt_response(404, description="No open or closed cohort has this id")
    @blp.alt_response(429, description="Too many reports asked for from this address: wait")
    @blp.doc(security=[])
    def get(self, args):
        """The transparency report: program-wide, or one cohort's with `cohort_id`.

        Public and aggregate only. In a cohort's report counts from 1 to 4 are the string
        "<5"; the totals beside them (and one more count when only one is masked), shares and
        hours resting on such a count, and money amounts resting on fewer than 5 artists are
        null. Rate-limited per client address (60 a minute unless configured otherwise)."""
        return build_report(args.get("cohort_id"))

"""Compensation API: contributions, feedback sessions, marketing uses, adjustments, and each
artist's ledger, statement and data export (artists: their own; staff: everyone's)."""

from __future__ import annotations

import json

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.access.service import get_artist
from access_program.accounts.models import Role, User
from access_program.accounts.permissions import api_auth, api_user, require_artist_access
from access_program.compensation import (
    models,  # noqa: F401  (tables are part of the schema)
    service,
)
from access_program.compensation.schemas import (
    AdjustmentCreateSchema,
    ContributionCreateSchema,
    ContributionQuerySchema,
    ContributionSchema,
    CorrectionCreateSchema,
    DeclineSchema,
    FeedbackSessionCreateSchema,
    FeedbackSessionSchema,
    LedgerEntrySchema,
    LedgerQuerySchema,
    LedgerSchema,
    MarketingUseCreateSchema,
    StatementQuerySchema,
    StatementSchema,
)
from access_program.db import utcnow
from access_program.errors import Forbidden
from access_program.pagination import SelectPage

blp = Blueprint("compensation_api", __name__, description="Compensation")


def _viewable_artist(artist_id: int) -> User:
    """The artist whose records are asked for: staff any, an artist only themselves (else 404,
    so existence does not leak)."""
    require_artist_access(api_user(), artist_id)
    return get_artist(artist_id)


@blp.route("/contributions")
class Contributions(MethodView):
    @api_auth()
    @blp.arguments(ContributionQuerySchema, location="query")
    @blp.response(200, ContributionSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Contributions, newest first (filters `status`, `kind`, `artist_id`).

        An artist sees their own; staff see all."""
        user = api_user()
        if not user.is_staff:
            args["artist_id"] = user.id
        return service.contributions_query(**args)

    @api_auth()
    @blp.arguments(ContributionCreateSchema)
    @blp.response(201, ContributionSchema)
    def post(self, data):
        """Propose a bug report, red-team finding or feedback hours.

        Bug reports and red-team findings need a `severity`; feedback needs `hours` (more than 0,
        at most 24). Staff propose for an artist with `artist_id`; `work_date` (default today)
        picks the rate card."""
        return service.propose_contribution(api_user(), **data)


@blp.route("/contributions/<int:contribution_id>")
class ContributionDetail(MethodView):
    @api_auth()
    @blp.response(200, ContributionSchema)
    def get(self, contribution_id):
        """One contribution with its status, amount and any decline reason."""
        return service.get_for_viewer(api_user(), contribution_id)


@blp.route("/contributions/<int:contribution_id>/accept")
class ContributionAccept(MethodView):
    @api_auth(Role.STAFF)
    @blp.response(200, ContributionSchema)
    def post(self, contribution_id):
        """proposed → accepted, and credited.

        Priced at the rate card of the terms the artist had accepted on the work date; the credit
        is written in the same transaction."""
        return service.accept_contribution(api_user(), service.get_contribution(contribution_id))


@blp.route("/contributions/<int:contribution_id>/decline")
class ContributionDecline(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(DeclineSchema)
    @blp.response(200, ContributionSchema)
    def post(self, data, contribution_id):
        """proposed → declined, with a reason (required) the artist reads."""
        return service.decline_contribution(
            api_user(), service.get_contribution(contribution_id), data["reason"]
        )


@blp.route("/feedback-sessions")
class FeedbackSessions(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(FeedbackSessionCreateSchema)
    @blp.response(201, FeedbackSessionSchema)
    def post(self, data):
        """Log one feedback session for many artists.

        Each artist is credited the hours at their own rate card. Unknown or non-member ids: 422
        naming them, and nothing is written."""
        return service.log_feedback_session(api_user(), **data)


@blp.route("/marketing-uses")
class MarketingUses(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(MarketingUseCreateSchema)
    @blp.response(201, ContributionSchema)
    def post(self, data):
        """Record a marketing use of an approved output.

        The artist is credited the marketing-use fee; 409 unless the request is approved."""
        return service.record_marketing_use(api_user(), **data)


@blp.route("/adjustments")
class Adjustments(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(AdjustmentCreateSchema)
    @blp.response(201, ContributionSchema)
    def post(self, data):
        """Credit (positive) or debit (negative) an artist by hand, with a reason."""
        return service.record_adjustment(api_user(), **data)


@blp.route("/ledger-entries/<int:entry_id>/reverse")
class LedgerEntryReverse(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(CorrectionCreateSchema)
    @blp.response(201, LedgerEntrySchema)
    def post(self, data, entry_id):
        """Correct a credit or adjustment with a reversing entry (once per entry)."""
        return service.reverse_entry(api_user(), service.get_entry(entry_id), data["reason"])


@blp.route("/artists/<int:artist_id>/ledger")
class ArtistLedger(MethodView):
    @api_auth()
    @blp.arguments(LedgerQuerySchema, location="query")
    @blp.response(200, LedgerSchema)
    def get(self, args, artist_id):
        """Balance and entries, newest first, paginated (`page`, `page_size`)."""
        artist = _viewable_artist(artist_id)
        return service.ledger_page(artist.id, args["page"], args["page_size"])


@blp.route("/artists/<int:artist_id>/statement")
class ArtistStatement(MethodView):
    @api_auth()
    @blp.arguments(StatementQuerySchema, location="query")
    @blp.response(200, StatementSchema)
    def get(self, args, artist_id):
        """An artist's statement for a period, as JSON or CSV.

        `from` and `to` are both included (default: this month). Opening balance, entries with
        their rate-card version and running balance, closing balance, payouts with transfer ids.
        `format=csv` answers the same as a CSV attachment."""
        artist = _viewable_artist(artist_id)
        st = service.statement(artist, args["date_from"], args["date_to"])
        if args["format"] == "csv":
            name = f"statement-{artist.id}-{st.date_from.isoformat()}-{st.date_to.isoformat()}"
            return Response(
                service.statement_csv(st),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        return service.statement_dict(st)


@blp.route("/me/export")
class MyExport(MethodView):
    @api_auth()
    @blp.response(200, description="All the artist's data as one JSON file (attachment)")
    def get(self):
        """Download all your data as one JSON file.

        Requests with decisions and appeals, contributions, ledger, payouts and your audit
        record."""
        user = api_user()
        if not user.is_artist:
            raise Forbidden("Only artists download their data.")
        data = service.export_artist_data(user)
        name = f"my-data-{user.id}-{utcnow().date().isoformat()}.json"
        return Response(
            json.dumps(data, ensure_ascii=False, indent=2),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

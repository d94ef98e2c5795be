"""Payouts API."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from access_program.accounts.models import Role
from access_program.accounts.permissions import api_auth, api_user
from access_program.errors import Forbidden
from access_program.pagination import SelectPage
from access_program.payouts import accounts as payout_accounts
from access_program.payouts import models  # noqa: F401  (tables are part of the schema)
from access_program.payouts import service as payout_runs
from access_program.payouts.schemas import (
    PayoutQuerySchema,
    PayoutRunCancelSchema,
    PayoutRunCreateSchema,
    PayoutRunListSchema,
    PayoutRunSchema,
    PayoutSchema,
)

blp = Blueprint("payouts_api", __name__, description="Payouts")


# --- /me/payout-account: the artist's Stripe Express account (onboarding) ---------------------


class PayoutAccountSchema(Schema):
    status = fields.String(metadata={"description": "none, onboarding or ready"})
    payouts_enabled = fields.Boolean()
    details_submitted = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)


class OnboardingLinkSchema(Schema):
    onboarding_url = fields.String()


def _payout_artist():
    user = api_user()
    if not user.is_artist:
        raise Forbidden("Only artists have a payout account.")
    return user


@blp.route("/me/payout-account")
class MyPayoutAccount(MethodView):
    @api_auth()
    @blp.response(200, PayoutAccountSchema)
    def get(self):
        """Your payout account's status: `ready` only once Stripe has told us so."""
        account = payout_accounts.get_payout_account(_payout_artist())
        return {
            "status": payout_accounts.account_status(account),
            "payouts_enabled": bool(account and account.payouts_enabled),
            "details_submitted": bool(account and account.details_submitted),
            "disabled_reason": account.disabled_reason if account else None,
        }

    @api_auth()
    @blp.response(200, OnboardingLinkSchema)
    def post(self):
        """Set up payouts: creates your Stripe Express account (once) and returns a single-use
        onboarding link to open."""
        refresh_url, return_url = payout_accounts.onboarding_urls()
        url = payout_accounts.start_onboarding(
            _payout_artist(), refresh_url=refresh_url, return_url=return_url
        )
        return {"onboarding_url": url}


# --- payout runs and payouts (admin; an artist reads their own payouts) ----------------------


@blp.route("/payout-runs")
class PayoutRuns(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, PayoutRunListSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self):
        """Payout runs, newest first."""
        return payout_runs.runs_query()

    @api_auth(Role.ADMIN)
    @blp.arguments(PayoutRunCreateSchema)
    @blp.response(201, PayoutRunSchema)
    def post(self, data):
        """Open a payout run (one cohort, or all when `cohort_id` is null): the preview lists
        each artist's payable amount or why they are blocked (no ready account, below the
        minimum payout, a payout already in progress). Nothing is sent before `execute`."""
        cohort = payout_runs.get_cohort_for_run(data["cohort_id"])
        return payout_runs.create_run(api_user(), cohort)


@blp.route("/payout-runs/<int:run_id>")
class PayoutRunDetail(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, PayoutRunSchema)
    def get(self, run_id):
        """A run with its preview and its payouts (status, transfer id, failure message)."""
        return payout_runs.get_run(run_id)


@blp.route("/payout-runs/<int:run_id>/execute")
class PayoutRunExecute(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, PayoutRunSchema)
    def post(self, run_id):
        """Send the run's payouts to Stripe now, each once with its own idempotency key, and
        return the run. Also resumes a run whose payouts Stripe left unanswered. A finished
        run: 409."""
        run, _ = payout_runs.execute_run(api_user(), payout_runs.get_run(run_id))
        return run


@blp.route("/payout-runs/<int:run_id>/cancel")
class PayoutRunCancel(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(PayoutRunCancelSchema)
    @blp.response(200, PayoutRunSchema)
    def post(self, data, run_id):
        """Withdraw a run that has not been executed (optional `reason`): nothing is sent and
        its payouts are cancelled, so a new run can pay these artists. A run executing or
        finished: 409."""
        return payout_runs.cancel_run(api_user(), payout_runs.get_run(run_id), data["reason"])


@blp.route("/payouts")
class Payouts(MethodView):
    @api_auth()
    @blp.arguments(PayoutQuerySchema, location="query")
    @blp.response(200, PayoutSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Payouts newest first (filters `status`, `run_id`, `artist_id`): admins see all, an
        artist their own."""
        return payout_runs.payouts_for_viewer(api_user(), **args)

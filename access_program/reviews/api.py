"""Output-approval requests API (artists: their own; staff: all, the queue, decisions)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.accounts.models import Role
from access_program.accounts.permissions import api_auth, api_user
from access_program.errors import Forbidden
from access_program.pagination import SelectPage
from access_program.reviews import service
from access_program.reviews.schemas import (
    AppealCreateSchema,
    AppealDecisionSchema,
    AppealSchema,
    ConfirmRejectionSchema,
    DecisionCreateSchema,
    ReviewDecisionSchema,
    SubmissionCreateSchema,
    SubmissionDetailSchema,
    SubmissionQuerySchema,
    SubmissionSchema,
)

blp = Blueprint("reviews_api", __name__, description="Output-approval requests")


def _artist():
    user = api_user()
    if not user.is_artist:
        raise Forbidden("Only artists submit, revise, withdraw or appeal requests.")
    return user


def detail(submission):
    submission.history = service.history(submission)
    submission.appeal_deadline = (
        service.appeal_deadline(submission) if submission.status == "rejected" else None
    )
    return submission


@blp.route("/submissions")
class Submissions(MethodView):
    @api_auth()
    @blp.arguments(SubmissionQuerySchema, location="query")
    @blp.response(200, SubmissionSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Requests, newest first: an artist sees their own, staff see all."""
        user = api_user()
        filters = service.QueueFilters(**args)
        if not user.is_staff:
            filters.artist_id = user.id
        return service.list_query(filters)

    @api_auth()
    @blp.arguments(SubmissionCreateSchema)
    @blp.response(201, SubmissionSchema)
    def post(self, data):
        """Ask to share an output; the review deadline starts now."""
        return service.submit_request(_artist(), data)


@blp.route("/submissions/<int:submission_id>")
class SubmissionDetail(MethodView):
    @api_auth()
    @blp.response(200, SubmissionDetailSchema)
    def get(self, submission_id):
        """One request with its decisions, appeal and whole history."""
        return detail(service.get_for_viewer(api_user(), submission_id))


@blp.route("/submissions/<int:submission_id>/claim")
class Claim(MethodView):
    @api_auth(Role.STAFF)
    @blp.response(200, SubmissionSchema)
    def post(self, submission_id):
        """Take the request for review (submitted → in_review)."""
        user = api_user()
        return service.claim_request(user, service.get_submission(submission_id, lock=True))


@blp.route("/submissions/<int:submission_id>/decision")
class Decide(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(DecisionCreateSchema)
    @blp.response(201, ReviewDecisionSchema)
    def post(self, data, submission_id):
        """Approve, request changes or reject (reason ≥ 20 characters and clauses for the
        last two). Under the two-person rule a rejection is proposed until confirmed."""
        submission = service.get_submission(submission_id, lock=True)
        return service.decide_request(api_user(), submission, **data)


@blp.route("/submissions/<int:submission_id>/confirm-rejection")
class ConfirmRejection(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(ConfirmRejectionSchema)
    @blp.response(200, ReviewDecisionSchema)
    def post(self, data, submission_id):
        """A second staff member makes a proposed rejection final."""
        submission = service.get_submission(submission_id, lock=True)
        return service.confirm_rejection(api_user(), submission, data["reason"])


@blp.route("/submissions/<int:submission_id>/revise")
class Revise(MethodView):
    @api_auth()
    @blp.arguments(SubmissionCreateSchema)
    @blp.response(200, SubmissionSchema)
    def post(self, data, submission_id):
        """Resubmit after changes were requested (a new revision and deadline)."""
        artist = _artist()
        submission = service.get_for_viewer(artist, submission_id, lock=True)
        return service.revise_request(artist, submission, data)


@blp.route("/submissions/<int:submission_id>/withdraw")
class Withdraw(MethodView):
    @api_auth()
    @blp.response(200, SubmissionSchema)
    def post(self, submission_id):
        """Withdraw the request before a decision."""
        artist = _artist()
        submission = service.get_for_viewer(artist, submission_id, lock=True)
        return service.withdraw_request(artist, submission)


@blp.route("/submissions/<int:submission_id>/appeal")
class AppealCreate(MethodView):
    @api_auth()
    @blp.arguments(AppealCreateSchema)
    @blp.response(201, AppealSchema)
    def post(self, data, submission_id):
        """Appeal a rejection once, within 14 days (plus any pause of your access)."""
        artist = _artist()
        submission = service.get_for_viewer(artist, submission_id, lock=True)
        return service.appeal_request(artist, submission, data["statement"])


@blp.route("/submissions/<int:submission_id>/appeal/decision")
class AppealDecide(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(AppealDecisionSchema)
    @blp.response(200, AppealSchema)
    def post(self, data, submission_id):
        """Grant or uphold an appeal (by staff who took no part in the rejection)."""
        submission = service.get_submission(submission_id, lock=True)
        return service.decide_appeal(api_user(), submission, data["outcome"], data["reason"])


@blp.route("/review-queue")
class ReviewQueue(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(SubmissionQuerySchema, location="query")
    @blp.response(200, SubmissionSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Requests waiting on staff (open ones and appeals), soonest deadline first."""
        return service.list_query(service.QueueFilters(**args), queue_only=True)

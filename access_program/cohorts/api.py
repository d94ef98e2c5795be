"""Cohorts, terms and invitations API."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.accounts.models import Role
from access_program.accounts.permissions import api_auth, api_user, bearer_principal
from access_program.cohorts import service
from access_program.cohorts.schemas import (
    AcceptedSchema,
    AcceptSchema,
    CohortCreateSchema,
    CohortSchema,
    CohortUpdateSchema,
    InvitationQuerySchema,
    InvitationSchema,
    InviteResultsSchema,
    InviteSchema,
    TermsAcceptedSchema,
    TermsAcceptSchema,
    TermsCreateSchema,
    TermsDiffQuerySchema,
    TermsDiffSchema,
    TermsSchema,
    TermsUpdateSchema,
)
from access_program.errors import Forbidden, ValidationError
from access_program.pagination import SelectPage

blp = Blueprint("cohorts_api", __name__, description="Cohorts, terms and invitations")


def _actor():
    return bearer_principal().actor


@blp.route("/cohorts")
class Cohorts(MethodView):
    @api_auth(Role.STAFF)
    @blp.response(200, CohortSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self):
        """List cohorts, newest first, with member and pending-invitation counts."""
        return service.cohorts_query()

    @api_auth(Role.ADMIN)
    @blp.arguments(CohortCreateSchema)
    @blp.response(201, CohortSchema)
    def post(self, data):
        """Create a cohort (draft)."""
        return service.create_cohort(_actor(), **data)


@blp.route("/cohorts/<int:cohort_id>")
class CohortDetail(MethodView):
    @api_auth(Role.STAFF)
    @blp.response(200, CohortSchema)
    def get(self, cohort_id):
        """One cohort with its member and pending-invitation counts."""
        return service.get_cohort(cohort_id)

    @api_auth(Role.ADMIN)
    @blp.arguments(CohortUpdateSchema)
    @blp.response(200, CohortSchema)
    def patch(self, data, cohort_id):
        """Change settings; `terms_id` moves members to new terms (they must re-accept)."""
        return service.update_cohort(_actor(), service.get_cohort(cohort_id), **data)


@blp.route("/cohorts/<int:cohort_id>/open")
class CohortOpen(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, CohortSchema)
    def post(self, cohort_id):
        """draft → open (needs published terms)."""
        return service.open_cohort(_actor(), service.get_cohort(cohort_id))


@blp.route("/cohorts/<int:cohort_id>/close")
class CohortClose(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, CohortSchema)
    def post(self, cohort_id):
        """→ closed: withdraws pending invitations, revokes grants, ends memberships."""
        return service.close_cohort(_actor(), service.get_cohort(cohort_id))


@blp.route("/cohorts/<int:cohort_id>/invitations")
class CohortInvitations(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(InvitationQuerySchema, location="query")
    @blp.response(200, InvitationSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args, cohort_id):
        """The cohort's invitations (filter by `status`)."""
        return service.list_invitations(service.get_cohort(cohort_id), args.get("status"))

    @api_auth(Role.ADMIN)
    @blp.arguments(InviteSchema)
    @blp.response(201, InviteResultsSchema)
    @blp.alt_response(409, description="A single invitation refused (cohort full, duplicate)")
    def post(self, data, cohort_id):
        """Invite one or many emails; a result per email. The `accept_url` is only shown here.

        With one email, a refusal is the response itself (409 or 422)."""
        cohort = service.get_cohort(cohort_id)
        if len(data["emails"]) == 1:
            try:
                invitation, token = service.invite_artist(_actor(), cohort, data["emails"][0])
            except ValidationError as exc:
                raise ValidationError(
                    exc.message, code=exc.code, details={"emails": exc.details.get("email", [])}
                ) from None
            results = [
                service.InviteResult(
                    invitation.email, "sent", "Invitation sent.", invitation, token
                )
            ]
        else:
            results = service.invite_many(_actor(), cohort, data["emails"])
        return {"results": results, "sent": sum(r.status == "sent" for r in results)}


@blp.route("/invitations/<int:invitation_id>/withdraw")
class InvitationWithdraw(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, InvitationSchema)
    def post(self, invitation_id):
        """pending → withdrawn."""
        return service.withdraw_invitation(_actor(), service.get_invitation(invitation_id))


@blp.route("/invitations/accept")
class InvitationAccept(MethodView):
    @blp.arguments(AcceptSchema)
    @blp.response(201, AcceptedSchema)
    @blp.doc(security=[])
    def post(self, data):
        """Accept an invitation: a new artist sets name and password (an existing one gives their
        password); `accept_terms` must be true. Used, expired or withdrawn links get 410."""
        membership = service.accept_invitation(
            data["token"],
            accept_terms=data["accept_terms"],
            ip=request.remote_addr,
            name=data.get("name"),
            password=data.get("password"),
        )
        return {
            "artist_id": membership.user_id,
            "membership_id": membership.id,
            "cohort_id": membership.cohort_id,
        }


@blp.route("/terms")
class TermsList(MethodView):
    @api_auth(Role.STAFF)
    @blp.response(200, TermsSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self):
        """Every terms version, newest first."""
        return service.terms_query()

    @api_auth(Role.ADMIN)
    @blp.arguments(TermsCreateSchema)
    @blp.response(201, TermsSchema)
    def post(self, data):
        """Create a draft terms version with its content policy and rate card."""
        return service.create_terms(_actor(), **data)


@blp.route("/terms/<int:terms_id>")
class TermsDetail(MethodView):
    @api_auth()
    @blp.response(200, TermsSchema)
    def get(self, terms_id):
        """One terms version (published ones are readable by every signed-in caller)."""
        return service.readable_terms(bearer_principal().user, terms_id)

    @api_auth(Role.ADMIN)
    @blp.arguments(TermsUpdateSchema)
    @blp.response(200, TermsSchema)
    def put(self, data, terms_id):
        """Edit a draft; published terms never change (409)."""
        return service.update_terms(_actor(), service.get_terms(terms_id), **data)


@blp.route("/terms/<int:terms_id>/publish")
class TermsPublish(MethodView):
    @api_auth(Role.ADMIN)
    @blp.response(200, TermsSchema)
    def post(self, terms_id):
        """draft → published (immutable)."""
        return service.publish_terms(_actor(), service.get_terms(terms_id))


@blp.route("/terms/<int:terms_id>/diff")
class TermsDiff(MethodView):
    @api_auth()
    @blp.arguments(TermsDiffQuerySchema, location="query")
    @blp.response(200, TermsDiffSchema)
    def get(self, args, terms_id):
        """What changed in this version: from `?from=<id>`, else from the version the artist
        last accepted (staff: from the previous published version)."""
        user = bearer_principal().user
        terms = service.readable_terms(user, terms_id)
        base = (
            service.readable_terms(user, args["from_id"])
            if "from_id" in args
            else service.diff_base(user, terms)
        )
        diff = service.diff_terms(base, terms)
        return {
            "from_id": base.id if base else None,
            "to_id": terms.id,
            "unchanged": diff.is_empty,
            "body": diff.body,
            "clauses_added": diff.clauses_added,
            "clauses_removed": diff.clauses_removed,
            "clauses_changed": [
                {"code": new.code, "before": old, "after": new} for old, new in diff.clauses_changed
            ],
            "rates_changed": [
                {"rate": key, "before": before, "after": after}
                for key, before, after in diff.rates_changed
            ],
        }


@blp.route("/terms/<int:terms_id>/accept")
class TermsAccept(MethodView):
    @api_auth(Role.ARTIST)
    @blp.arguments(TermsAcceptSchema)
    @blp.response(201, TermsAcceptedSchema)
    def post(self, data, terms_id):
        """An artist accepts their cohort's current terms (needed after the cohort moves to a
        new version before access is active again)."""
        user = api_user()
        if not user.is_artist:
            raise Forbidden("Only artists accept terms.")
        terms = service.readable_terms(user, terms_id)
        acceptance = service.accept_current_terms(
            user, terms, accept_terms=data["accept_terms"], ip=request.remote_addr
        )
        return {
            "terms_id": terms.id,
            "label": terms.label,
            "membership_id": acceptance.membership_id,
            "accepted_at": acceptance.accepted_at,
        }

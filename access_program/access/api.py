"""The access decision, grants, revocations, pauses and artists API."""

from __future__ import annotations

import functools

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from access_program.access import service
from access_program.access.schemas import (
    AccessQuerySchema,
    ArtistQuerySchema,
    ArtistSchema,
    ArtistUpdateSchema,
    DecisionSchema,
    GrantCreateSchema,
    GrantSchema,
    PauseCreateSchema,
    PauseEndSchema,
    PauseQuerySchema,
    PauseSchema,
    RevokeAllResultSchema,
    RevokeSchema,
)
from access_program.accounts.models import Role, Scope
from access_program.accounts.permissions import (
    api_auth,
    api_user,
    authenticated,
    bearer_principal,
    bearer_value,
    require_artist_access,
)
from access_program.accounts.service import bearer_token
from access_program.cohorts import service as cohorts
from access_program.errors import Conflict
from access_program.pagination import SelectPage

blp = Blueprint("access_api", __name__, description="Access decisions, grants and pauses")


def _actor():
    return bearer_principal().actor


def _checked(**artist) -> Response:
    """The generation tool's hot path: the token and the decision come from one statement
    (``service.checked_decision``); 401 and 403 as ``api_auth`` gives them. A ready Response
    skips the schema dump."""
    token, decision = service.checked_decision(bearer_value(), **artist)
    authenticated(token, Scope.ACCESS_CHECK)
    return jsonify(decision.as_json())


@blp.route("/access/<int:artist_id>")
class AccessById(MethodView):
    @blp.response(200, DecisionSchema)
    def get(self, artist_id):
        """May this artist generate now? (token scope `access:check`)"""
        return _checked(artist_id=artist_id)


def _auth_before_bad_query(view):
    """A bad query from an unauthenticated caller gets 401, not 422, as on every other route
    (where ``api_auth`` runs before the arguments are parsed); the token is looked up here only
    on that refusal path, so the good path stays one statement."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if AccessQuerySchema().validate(request.args):
            authenticated(bearer_token(bearer_value()), Scope.ACCESS_CHECK)
        return view(*args, **kwargs)

    return wrapper


@blp.route("/access")
class AccessByExternalId(MethodView):
    @_auth_before_bad_query
    @blp.arguments(AccessQuerySchema, location="query")
    @blp.response(200, DecisionSchema)
    def get(self, args):
        """The same decision, by the tool's own user id (`?external_id=`)."""
        return _checked(external_id=args["external_id"])


@blp.route("/artists")
class Artists(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(ArtistQuerySchema, location="query")
    @blp.response(200, ArtistSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Artists (filter by `cohort_id`, search `q` in name and email)."""
        return service.list_artists(args.get("cohort_id"), args.get("q"))


@blp.route("/artists/<int:artist_id>")
class ArtistDetail(MethodView):
    @api_auth()
    @blp.response(200, ArtistSchema)
    def get(self, artist_id):
        """One artist (an artist sees only themselves; others get 404)."""
        require_artist_access(api_user(), artist_id)
        return service.get_artist(artist_id)

    @api_auth(Role.ADMIN)
    @blp.arguments(ArtistUpdateSchema)
    @blp.response(200, ArtistSchema)
    def patch(self, data, artist_id):
        """Link the generation tool's user id (`external_id`)."""
        return service.set_external_id(_actor(), service.get_artist(artist_id), data["external_id"])


@blp.route("/artists/<int:artist_id>/grants")
class ArtistGrants(MethodView):
    @api_auth()
    @blp.response(200, GrantSchema(many=True))
    def get(self, artist_id):
        """Every grant of the artist, revoked ones included (newest first)."""
        require_artist_access(api_user(), artist_id)
        return service.grants_for(service.get_artist(artist_id))

    @api_auth(Role.ADMIN)
    @blp.arguments(GrantCreateSchema)
    @blp.response(201, GrantSchema)
    def post(self, data, artist_id):
        """Grant access to the artist's active membership (optional `expires_at`)."""
        artist = service.get_artist(artist_id)
        membership = cohorts.active_membership(artist)
        if membership is None:
            raise Conflict("The artist has no active membership; invite them first.")
        return service.grant_access(_actor(), membership, expires_at=data["expires_at"])


@blp.route("/grants/<int:grant_id>/revoke")
class GrantRevoke(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(RevokeSchema)
    @blp.response(200, GrantSchema)
    def post(self, data, grant_id):
        """Revoke one grant with a category and the reason the artist will read."""
        return service.revoke_grant(_actor(), service.get_grant(grant_id), **data)


@blp.route("/cohorts/<int:cohort_id>/revoke-all")
class CohortRevokeAll(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(RevokeSchema)
    @blp.response(200, RevokeAllResultSchema)
    def post(self, data, cohort_id):
        """Revoke every grant in a cohort with one reason."""
        cohort = cohorts.get_cohort(cohort_id)
        return {"cohort_id": cohort.id, "revoked": service.revoke_all(_actor(), cohort, **data)}


@blp.route("/pauses")
class Pauses(MethodView):
    @api_auth(Role.STAFF)
    @blp.arguments(PauseQuerySchema, location="query")
    @blp.response(200, PauseSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args):
        """Pauses, newest first (`open=true` for the open ones)."""
        return service.list_pauses(open_only=args["open"])

    @api_auth(Role.ADMIN)
    @blp.arguments(PauseCreateSchema)
    @blp.response(201, PauseSchema)
    def post(self, data):
        """Pause tool access for everyone (`global`) or one cohort; 409 if one is open."""
        cohort = cohorts.get_cohort(data["cohort_id"]) if data["cohort_id"] is not None else None
        return service.start_pause(
            _actor(),
            scope=data["scope"],
            reason=data["reason"],
            cohort=cohort,
            expected_end_at=data["expected_end"],
        )


@blp.route("/pauses/<int:pause_id>/end")
class PauseEnd(MethodView):
    @api_auth(Role.ADMIN)
    @blp.arguments(PauseEndSchema)
    @blp.response(200, PauseSchema)
    def post(self, data, pause_id):
        """End an open pause with an optional note."""
        return service.end_pause(_actor(), service.get_pause(pause_id), data["note"])

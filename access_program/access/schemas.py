"""Grants, pauses, artists and the access decision, one schema per direction."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from access_program.access.models import MAX_ID, PauseScope, RevocationCategory
from access_program.db import utcnow

#: Ids are INTEGER columns; a larger number cannot name a row (and would overflow the database).
ID_RANGE = validate.Range(min=1, max=MAX_ID, error="Not a valid id.")


class ReasonSchema(Schema):
    code = fields.String()
    message = fields.String()


class DecisionSchema(Schema):
    allowed = fields.Boolean()
    reasons = fields.List(fields.Nested(ReasonSchema))
    grant_id = fields.Integer(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    checked_at = fields.DateTime()


class AccessQuerySchema(Schema):
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=128))


class GrantCreateSchema(Schema):
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)


class RevokeSchema(Schema):
    category = fields.String(required=True, validate=validate.OneOf(list(RevocationCategory)))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class RevokeAllResultSchema(Schema):
    cohort_id = fields.Integer()
    revoked = fields.Integer()


class GrantSchema(Schema):
    id = fields.Integer()
    artist_id = fields.Integer(attribute="user_id")
    membership_id = fields.Integer()
    cohort_id = fields.Integer(attribute="membership.cohort_id")
    scope = fields.String()
    state = fields.Method("dump_state")
    granted_by_id = fields.Integer(allow_none=True)
    granted_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoked_by_id = fields.Integer(allow_none=True)
    revoke_category = fields.String(allow_none=True)
    revoke_reason = fields.String(allow_none=True)

    def dump_state(self, grant):
        return grant.state(utcnow())


class PauseCreateSchema(Schema):
    scope = fields.String(required=True, validate=validate.OneOf(list(PauseScope)))
    cohort_id = fields.Integer(load_default=None, allow_none=True, validate=ID_RANGE)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    expected_end = fields.AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def cohort_matches_scope(self, data, **kwargs):
        if data.get("scope") == PauseScope.COHORT and data.get("cohort_id") is None:
            raise ValidationError("Pick the cohort to pause.", "cohort_id")
        if data.get("scope") == PauseScope.GLOBAL and data.get("cohort_id") is not None:
            raise ValidationError("A global pause names no cohort.", "cohort_id")


class PauseEndSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class PauseSchema(Schema):
    id = fields.Integer()
    scope = fields.String()
    cohort_id = fields.Integer(allow_none=True)
    reason = fields.String()
    expected_end = fields.DateTime(attribute="expected_end_at", allow_none=True)
    started_by_id = fields.Integer(allow_none=True)
    started_at = fields.DateTime()
    ended_by_id = fields.Integer(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    end_note = fields.String(allow_none=True)
    is_open = fields.Boolean()


class PauseQuerySchema(Schema):
    open = fields.Boolean(load_default=False)


class ArtistQuerySchema(Schema):
    cohort_id = fields.Integer(validate=ID_RANGE)
    q = fields.String(validate=validate.Length(max=100))


class ArtistSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    active = fields.Boolean()
    external_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)


class ArtistUpdateSchema(Schema):
    external_id = fields.String(required=True, allow_none=True, validate=validate.Length(max=128))

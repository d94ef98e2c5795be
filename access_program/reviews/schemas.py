"""Request, decision and appeal schemas, one per direction."""

from marshmallow import Schema, fields, validate

from access_program.db import utcnow
from access_program.reviews.models import IntendedUse, Status

USES = [u.value for u in IntendedUse]


class SubmissionCreateSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    output_ref = fields.String(required=True, validate=validate.Length(min=1, max=500))
    output_sha256 = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^[0-9a-fA-F]{64}$", error="A SHA-256 is 64 hex characters."),
    )
    intended_use = fields.String(required=True, validate=validate.OneOf(USES))
    venue = fields.String(load_default="", validate=validate.Length(max=200))
    planned_date = fields.Date(load_default=None, allow_none=True)


class SubmissionQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in Status]))
    cohort_id = fields.Integer()
    intended_use = fields.String(validate=validate.OneOf(USES))
    overdue = fields.Boolean()


class DecisionCreateSchema(Schema):
    outcome = fields.String(
        required=True, validate=validate.OneOf(["approved", "changes_requested", "rejected"])
    )
    reason = fields.String(load_default="", validate=validate.Length(max=10_000))
    clauses = fields.List(fields.String(validate=validate.Length(max=16)), load_default=list)
    allowed_uses = fields.List(fields.String(validate=validate.OneOf(USES)), load_default=None)


class ConfirmRejectionSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=10_000))


class AppealCreateSchema(Schema):
    statement = fields.String(required=True, validate=validate.Length(max=10_000))


class AppealDecisionSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(["granted", "upheld"]))
    reason = fields.String(required=True, validate=validate.Length(max=10_000))


class ClauseRefSchema(Schema):
    code = fields.String()
    title = fields.String()
    text = fields.String()


class ReviewDecisionSchema(Schema):
    id = fields.Integer()
    revision = fields.Integer()
    reviewer_id = fields.Integer(allow_none=True)
    outcome = fields.String()
    state = fields.String()
    reason = fields.String()
    clauses = fields.List(fields.String())
    allowed_uses = fields.List(fields.String(), allow_none=True)
    decided_at = fields.DateTime()
    confirmed_by_id = fields.Integer(allow_none=True)
    confirmed_at = fields.DateTime(allow_none=True)


class AppealSchema(Schema):
    id = fields.Integer()
    statement = fields.String()
    filed_at = fields.DateTime()
    outcome = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    decided_by_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


class HistoryItemSchema(Schema):
    seq = fields.Integer()
    when = fields.DateTime()
    who = fields.String()
    action = fields.String()
    what = fields.String()
    why = fields.String(allow_none=True)
    clauses = fields.List(fields.Nested(ClauseRefSchema))
    data = fields.Dict()


class SubmissionSchema(Schema):
    id = fields.Integer()
    artist_id = fields.Integer()
    cohort_id = fields.Integer()
    terms_id = fields.Integer()
    title = fields.String()
    description = fields.String()
    output_ref = fields.String()
    output_sha256 = fields.String(allow_none=True)
    intended_use = fields.String()
    venue = fields.String()
    planned_date = fields.Date(allow_none=True)
    status = fields.String()
    revision = fields.Integer()
    created_at = fields.DateTime()
    submitted_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    #: Open and past its review deadline (the queue marks these).
    overdue = fields.Function(lambda s: s.is_overdue(utcnow()))
    escalated = fields.Function(lambda s: s.escalated_at is not None)
    escalated_at = fields.DateTime(allow_none=True)
    claimed_by_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    allowed_uses = fields.List(fields.String(), allow_none=True)


class SubmissionDetailSchema(SubmissionSchema):
    decisions = fields.List(fields.Nested(ReviewDecisionSchema))
    appeal = fields.Nested(AppealSchema, allow_none=True)
    appeal_deadline = fields.DateTime(allow_none=True)
    history = fields.List(fields.Nested(HistoryItemSchema))

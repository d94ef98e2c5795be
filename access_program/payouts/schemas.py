"""Payout run and payout schemas, one per direction."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from access_program.access.models import MAX_ID
from access_program.payouts.models import PayoutStatus

ID = validate.Range(min=1, max=MAX_ID, error="Not a valid id.")


class PayoutRunCreateSchema(Schema):
    #: The cohort whose members are paid; none or null: every cohort.
    cohort_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=ID)


class PayoutRunCancelSchema(Schema):
    #: Why the run is withdrawn (kept in the audit trail); optional.
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class PayoutQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in PayoutStatus]))
    run_id = fields.Integer(validate=ID)
    #: Admins only; an artist always sees their own.
    artist_id = fields.Integer(validate=ID)


class PreviewLineSchema(Schema):
    """One artist in a run's preview: the payable amount, or why they are blocked."""

    artist_id = fields.Integer()
    name = fields.String()
    amount_minor = fields.Integer()
    currency = fields.String()
    payable = fields.Boolean()
    blocked_reason = fields.String(allow_none=True)
    #: The whole balance is paid whatever the minimum: the artist has left the program.
    settlement = fields.Boolean()
    payout_id = fields.Integer(allow_none=True)


class PayoutSchema(Schema):
    id = fields.Integer()
    run_id = fields.Integer()
    artist_id = fields.Integer()
    amount_minor = fields.Integer()
    currency = fields.String()
    status = fields.String()
    #: The Stripe connected account paid.
    destination = fields.String()
    transfer_id = fields.String(allow_none=True)
    transfer_group = fields.String()
    #: Stripe's message for a failed payout; for one still submitted, why it awaits a retry.
    failure_message = fields.String(allow_none=True)
    settlement = fields.Boolean()
    attempts = fields.Integer()
    amount_reversed = fields.Integer()
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    failed_at = fields.DateTime(allow_none=True)
    reversed_at = fields.DateTime(allow_none=True)


class PayoutRunSchema(Schema):
    id = fields.Integer()
    cohort_id = fields.Integer(allow_none=True)
    status = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    executed_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    #: The preview as shown when the run was opened.
    lines = fields.List(fields.Nested(PreviewLineSchema), attribute="preview")
    payouts = fields.List(fields.Nested(PayoutSchema))


class PayoutRunListSchema(Schema):
    id = fields.Integer()
    cohort_id = fields.Integer(allow_none=True)
    status = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    executed_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)

"""Contribution, ledger and statement schemas, one per direction.

Input schemas check types and sizes; the rules (which kinds, hour limits, severities, reasons)
live in the service so the pages and the CLI obey them too, and answer 422 with a message per
field either way.
"""

from marshmallow import Schema, fields, validate

from access_program.access.models import MAX_ID
from access_program.compensation.models import ContributionKind, ContributionStatus

ID = validate.Range(min=1, max=MAX_ID, error="Not a valid id.")
#: Keeps a huge number from reaching the database (the service states the real limits).
AMOUNT = validate.Range(min=-(2**62), max=2**62, error="Out of range.")


class ContributionCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.Length(max=32))
    #: Staff only: the artist who did the work (an artist proposes for themselves).
    artist_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=ID)
    #: Feedback sessions: more than 0 and at most 24.
    hours = fields.Decimal(load_default=None, allow_none=True, allow_nan=False)
    #: Bug reports and red-team findings: low, medium, high or critical.
    severity = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=16))
    title = fields.String(load_default="", validate=validate.Length(max=200))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    link = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    #: When the work was done (default today): picks the rate card.
    work_date = fields.Date(load_default=None, allow_none=True)


class ContributionQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in ContributionStatus]))
    kind = fields.String(validate=validate.OneOf([k.value for k in ContributionKind]))
    #: Staff only; an artist always sees their own.
    artist_id = fields.Integer(validate=ID)


class DeclineSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=10_000))


class FeedbackSessionCreateSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(max=200))
    held_on = fields.Date(required=True)
    hours = fields.Decimal(required=True, allow_nan=False)
    artist_ids = fields.List(
        fields.Integer(strict=True, validate=ID),
        required=True,
        validate=validate.Length(min=1, max=1000, error="Give 1 to 1000 artist ids."),
    )


class MarketingUseCreateSchema(Schema):
    submission_id = fields.Integer(required=True, strict=True, validate=ID)
    channel = fields.String(required=True, validate=validate.Length(max=200))
    used_on = fields.Date(required=True)


class AdjustmentCreateSchema(Schema):
    artist_id = fields.Integer(required=True, strict=True, validate=ID)
    amount_minor = fields.Integer(required=True, strict=True, validate=AMOUNT)
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class CorrectionCreateSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class ContributionSchema(Schema):
    id = fields.Integer()
    artist_id = fields.Integer()
    cohort_id = fields.Integer(allow_none=True)
    kind = fields.String()
    status = fields.String()
    title = fields.String()
    description = fields.String()
    link = fields.String(allow_none=True)
    hours = fields.Float(allow_none=True)
    minutes = fields.Integer(allow_none=True)
    severity = fields.String(allow_none=True)
    work_date = fields.Date()
    submission_id = fields.Integer(allow_none=True)
    feedback_session_id = fields.Integer(allow_none=True)
    channel = fields.String(allow_none=True)
    month = fields.String(allow_none=True)
    terms_id = fields.Integer(allow_none=True)
    terms_label = fields.Function(lambda c: c.terms.label if c.terms else None)
    amount_minor = fields.Integer(allow_none=True)
    currency = fields.String(allow_none=True)
    proposed_by_id = fields.Integer(allow_none=True)
    decided_by_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class FeedbackSessionSchema(Schema):
    id = fields.Integer(attribute="session.id")
    title = fields.String(attribute="session.title")
    held_on = fields.Date(attribute="session.held_on")
    minutes = fields.Integer(attribute="session.minutes")
    hours = fields.Function(lambda logged: logged.session.minutes / 60)
    logged_by_id = fields.Integer(attribute="session.logged_by_id", allow_none=True)
    created_at = fields.DateTime(attribute="session.created_at")
    contributions = fields.List(fields.Nested(ContributionSchema))


class LedgerEntrySchema(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    kind = fields.String()
    description = fields.String()
    amount_minor = fields.Integer()
    currency = fields.String()
    contribution_id = fields.Integer(allow_none=True)
    contribution_kind = fields.Function(lambda e: e.contribution.kind if e.contribution else None)
    payout_id = fields.Integer(allow_none=True)
    reverses_entry_id = fields.Integer(allow_none=True)
    terms_id = fields.Integer(allow_none=True)
    #: The rate-card version that priced a credit.
    terms_label = fields.Function(lambda e: e.terms.label if e.terms else None)


class LedgerQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_ID))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class PaginationSchema(Schema):
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()
    total_pages = fields.Integer()


class LedgerSchema(Schema):
    balance_minor = fields.Integer()
    currency = fields.String()
    entries = fields.List(fields.Nested(LedgerEntrySchema))
    pagination = fields.Nested(PaginationSchema)


class StatementQuerySchema(Schema):
    date_from = fields.Date(data_key="from", load_default=None)
    date_to = fields.Date(data_key="to", load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class StatementEntrySchema(Schema):
    id = fields.Integer()
    created_at = fields.String()
    kind = fields.String()
    description = fields.String()
    amount_minor = fields.Integer()
    currency = fields.String()
    contribution_id = fields.Integer(allow_none=True)
    contribution_kind = fields.String(allow_none=True)
    payout_id = fields.Integer(allow_none=True)
    reverses_entry_id = fields.Integer(allow_none=True)
    terms_id = fields.Integer(allow_none=True)
    terms_label = fields.String(allow_none=True)
    balance_after_minor = fields.Integer()


class StatementPayoutSchema(Schema):
    id = fields.Integer()
    run_id = fields.Integer()
    amount_minor = fields.Integer()
    currency = fields.String()
    status = fields.String()
    transfer_id = fields.String(allow_none=True)
    settlement = fields.Boolean()
    failure_message = fields.String(allow_none=True)
    amount_reversed = fields.Integer()
    created_at = fields.String(allow_none=True)
    submitted_at = fields.String(allow_none=True)
    paid_at = fields.String(allow_none=True)
    failed_at = fields.String(allow_none=True)
    reversed_at = fields.String(allow_none=True)


class StatementSchema(Schema):
    artist_id = fields.Integer()
    artist_name = fields.String()
    date_from = fields.String(data_key="from", attribute="from")
    date_to = fields.String(data_key="to", attribute="to")
    currency = fields.String()
    opening_balance_minor = fields.Integer()
    credits_minor = fields.Integer()
    debits_minor = fields.Integer()
    closing_balance_minor = fields.Integer()
    entries = fields.List(fields.Nested(StatementEntrySchema))
    payouts = fields.List(fields.Nested(StatementPayoutSchema))

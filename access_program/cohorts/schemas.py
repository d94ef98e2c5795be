"""Cohort, terms and invitation schemas, one per direction."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from access_program.cohorts import service
from access_program.cohorts.models import SEVERITIES, OnDeadline

NON_NEGATIVE = validate.Range(min=0, error="Give a whole, non-negative amount in minor units.")
NAME = validate.Length(min=1, max=120, error="Give a name of 1 to 120 characters.")
CAPACITY = validate.Range(min=1, max=100_000, error="Capacity must be between 1 and 100000.")
REVIEW_HOURS = validate.Range(
    min=1, max=24 * 60, error="The review deadline must be between 1 and 1440 hours."
)
ON_DEADLINE = validate.OneOf(list(OnDeadline), error="Use one of: " + ", ".join(OnDeadline) + ".")
ID = validate.Range(min=1, max=service.MAX_ID, error="Not a valid id.")


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be blank.")


class CohortCreateSchema(Schema):
    name = fields.String(required=True, validate=[NAME, _not_blank])
    description = fields.String(load_default="")
    capacity = fields.Integer(load_default=300, strict=True, validate=CAPACITY)
    review_hours = fields.Integer(load_default=72, strict=True, validate=REVIEW_HOURS)
    on_deadline = fields.String(load_default=OnDeadline.DEEMED_APPROVED, validate=ON_DEADLINE)
    auto_grant = fields.Boolean(load_default=True)
    two_person_rule = fields.Boolean(load_default=True)
    terms_id = fields.Integer(load_default=None, allow_none=True, validate=ID)
    starts_on = fields.Date(load_default=None, allow_none=True)
    ends_on = fields.Date(load_default=None, allow_none=True)

    @validates_schema
    def dates_in_order(self, data, **kwargs):
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError("The end date is before the start date.", "ends_on")


class CohortUpdateSchema(Schema):
    name = fields.String(validate=[NAME, _not_blank])
    description = fields.String()
    capacity = fields.Integer(strict=True, validate=CAPACITY)
    review_hours = fields.Integer(strict=True, validate=REVIEW_HOURS)
    on_deadline = fields.String(validate=ON_DEADLINE)
    auto_grant = fields.Boolean()
    two_person_rule = fields.Boolean()
    terms_id = fields.Integer(validate=ID)
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)


class CohortSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    capacity = fields.Integer()
    status = fields.String()
    review_hours = fields.Integer()
    on_deadline = fields.String()
    auto_grant = fields.Boolean()
    two_person_rule = fields.Boolean()
    terms_id = fields.Integer(allow_none=True)
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    members = fields.Function(lambda cohort: service.member_count(cohort))
    pending_invitations = fields.Function(lambda cohort: service.pending_invitation_count(cohort))


class ClauseSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z][A-Za-z0-9.\-]{0,15}$"))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    text = fields.String(required=True, validate=validate.Length(min=1))


def _severity_schema(name: str) -> type[Schema]:
    return Schema.from_dict(
        {s: fields.Integer(required=True, validate=NON_NEGATIVE) for s in SEVERITIES}, name=name
    )


BugFeesSchema = _severity_schema("BugFees")
RedTeamFeesSchema = _severity_schema("RedTeamFees")


class RateCardSchema(Schema):
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"))
    feedback_hour = fields.Integer(required=True, validate=NON_NEGATIVE)
    bug_report = fields.Nested(BugFeesSchema, required=True)
    red_team_finding = fields.Nested(RedTeamFeesSchema, required=True)
    approved_output = fields.Integer(load_default=0, validate=NON_NEGATIVE)
    marketing_use = fields.Integer(required=True, validate=NON_NEGATIVE)
    monthly_stipend = fields.Integer(load_default=0, validate=NON_NEGATIVE)
    minimum_payout = fields.Integer(load_default=0, validate=NON_NEGATIVE)


class TermsCreateSchema(Schema):
    label = fields.String(required=True, validate=validate.Length(min=1, max=120))
    body = fields.String(required=True, validate=validate.Length(min=1))
    clauses = fields.List(fields.Nested(ClauseSchema), required=True)
    rate_card = fields.Nested(RateCardSchema, required=True)


class TermsUpdateSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1))
    clauses = fields.List(fields.Nested(ClauseSchema), required=True)
    rate_card = fields.Nested(RateCardSchema, required=True)


class TermsSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    body = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    clauses = fields.List(fields.Nested(ClauseSchema))
    rate_card = fields.Method("dump_rate_card")

    def dump_rate_card(self, terms):
        return terms.rate_card.as_dict() if terms.rate_card else None


class InviteSchema(Schema):
    emails = fields.List(
        fields.String(validate=validate.Length(min=1, max=254)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )


class InviteResultSchema(Schema):
    email = fields.String()
    status = fields.String()
    message = fields.String()
    invitation_id = fields.Integer(allow_none=True)
    accept_url = fields.String(allow_none=True)


class InviteResultsSchema(Schema):
    results = fields.List(fields.Nested(InviteResultSchema))
    sent = fields.Integer()


class InvitationSchema(Schema):
    id = fields.Integer()
    cohort_id = fields.Integer()
    email = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    responded_at = fields.DateTime(allow_none=True)
    invited_by_id = fields.Integer(allow_none=True)


class InvitationQuerySchema(Schema):
    status = fields.String(
        validate=validate.OneOf(["pending", "accepted", "declined", "expired", "withdrawn"])
    )


class AcceptSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=10, max=200))
    name = fields.String(validate=validate.Length(min=1, max=120))
    password = fields.String(load_only=True, validate=validate.Length(min=1, max=500))
    accept_terms = fields.Boolean(required=True)


class AcceptedSchema(Schema):
    artist_id = fields.Integer()
    membership_id = fields.Integer()
    cohort_id = fields.Integer()


class TermsAcceptSchema(Schema):
    accept_terms = fields.Boolean(required=True)


class TermsAcceptedSchema(Schema):
    terms_id = fields.Integer()
    label = fields.String()
    membership_id = fields.Integer()
    accepted_at = fields.DateTime()


class TermsDiffQuerySchema(Schema):
    from_id = fields.Integer(data_key="from", validate=ID)


class ClauseChangeSchema(Schema):
    code = fields.String()
    before = fields.Nested(ClauseSchema)
    after = fields.Nested(ClauseSchema)


class RateChangeSchema(Schema):
    rate = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class TermsDiffSchema(Schema):
    from_id = fields.Integer(data_key="from", allow_none=True)
    to_id = fields.Integer(data_key="to")
    unchanged = fields.Boolean()
    body = fields.List(fields.String(), metadata={"description": "A unified diff of the body"})
    clauses_added = fields.List(fields.Nested(ClauseSchema))
    clauses_removed = fields.List(fields.Nested(ClauseSchema))
    clauses_changed = fields.List(fields.Nested(ClauseChangeSchema))
    rates_changed = fields.List(fields.Nested(RateChangeSchema))

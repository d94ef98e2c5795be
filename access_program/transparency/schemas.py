"""The transparency report's query and its published shape (aggregates only)."""

from marshmallow import Schema, fields, validate

from access_program.access.models import RevocationCategory
from access_program.reviews.models import Status
from access_program.transparency.service import MASK


class CountField(fields.Raw):
    """A count: a whole number; in a cohort's report "<5" for 1 to 4, or null when withheld."""

    def __init__(self, description: str = "", **kwargs):
        note = (
            f'In a cohort\'s report a count from 1 to 4 is "{MASK}", and a count that would let'
            f' one be worked out (the total of a group with a "{MASK}" in it, and one more count'
            " of the group when only one is masked) is null."
        )
        metadata = {
            "oneOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "enum": [MASK]},
            ],
            "nullable": True,
            "description": f"{description} {note}".strip(),
        }
        super().__init__(metadata=metadata, allow_none=True, **kwargs)


class TransparencyQuerySchema(Schema):
    #: A cohort's report instead of the program's; only open and closed cohorts have one.
    cohort_id = fields.Integer(
        validate=validate.Range(min=1, max=2**63 - 1, error="Not a valid cohort id."),
        metadata={"description": "A cohort's report (open and closed cohorts only)."},
    )


class ReportCohortSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    status = fields.String()


class InvitationFiguresSchema(Schema):
    sent = CountField()
    pending = CountField()
    accepted = CountField()
    declined = CountField()
    expired = CountField("Including pending invitations past their expiry.")
    withdrawn = CountField()


class ReportMembersSchema(Schema):
    active = CountField()
    total = CountField("Artists who ever joined.")


RevocationCategoriesSchema = Schema.from_dict(
    {category.value: CountField() for category in RevocationCategory},
    name="RevocationCategoriesSchema",
)


class RevocationsSchema(Schema):
    total = CountField()
    by_category = fields.Nested(RevocationCategoriesSchema)


class ReportPauseSchema(Schema):
    scope = fields.String(metadata={"description": "global or cohort"})
    cohort_name = fields.String(
        allow_none=True,
        metadata={"description": "null for a program-wide pause or a cohort not yet announced"},
    )
    reason = fields.String(
        allow_none=True, metadata={"description": "null for a cohort not yet announced"}
    )
    started_at = fields.DateTime()
    expected_end_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    ongoing = fields.Boolean()
    duration_hours = fields.Float(metadata={"description": "Until now while it goes on."})


RequestOutcomesSchema = Schema.from_dict(
    {status.value: CountField() for status in Status}, name="RequestOutcomesSchema"
)


class RequestFiguresSchema(Schema):
    received = CountField()
    outcomes = fields.Nested(
        RequestOutcomesSchema, metadata={"description": "Requests by current status."}
    )
    escalated = CountField()
    deemed_approved = CountField()
    decisions = CountField("Decisions that took effect, one per revision answered.")
    decided_within_deadline = CountField()
    share_decided_within_deadline = fields.Float(allow_none=True)
    median_hours_to_decision = fields.Float(allow_none=True)
    p90_hours_to_decision = fields.Float(allow_none=True)


class AppealFiguresSchema(Schema):
    filed = CountField()
    pending = CountField()
    decided = CountField()
    granted = CountField()
    upheld = CountField()
    share_granted = fields.Float(allow_none=True)


class CitedClauseSchema(Schema):
    code = fields.String()
    title = fields.String()
    citations = CountField()


WITHHELD_CREDIT = (
    "In a cohort's report null when it rests on 1 to 4 artists or would reveal such an amount."
)
WITHHELD_PAID = "In a cohort's report null when fewer than 5 artists were paid in the currency."


class ReportCreditedSchema(Schema):
    kind = fields.String()
    currency = fields.String()
    amount_minor = fields.Integer(allow_none=True, metadata={"description": WITHHELD_CREDIT})


class ReportAmountSchema(Schema):
    currency = fields.String()
    amount_minor = fields.Integer(allow_none=True, metadata={"description": WITHHELD_CREDIT})


class ReportPaidSchema(Schema):
    currency = fields.String()
    amount_minor = fields.Integer(allow_none=True, metadata={"description": WITHHELD_PAID})
    median_per_paid_artist_minor = fields.Integer(
        allow_none=True, metadata={"description": WITHHELD_PAID}
    )


class MoneyFiguresSchema(Schema):
    credited_by_kind = fields.List(fields.Nested(ReportCreditedSchema))
    credited_total = fields.List(fields.Nested(ReportAmountSchema))
    paid = fields.List(fields.Nested(ReportPaidSchema))
    artists_paid = CountField()
    artists = CountField("Artists who ever joined.")
    share_of_artists_paid = fields.Float(allow_none=True)


class AuditHeadSchema(Schema):
    events = fields.Integer()
    head_hash = fields.String()


class TransparencyReportSchema(Schema):
    generated_at = fields.DateTime()
    cohort = fields.Nested(ReportCohortSchema, allow_none=True)
    small_counts_masked = fields.Boolean()
    cohorts = fields.List(fields.Nested(ReportCohortSchema))
    invitations = fields.Nested(InvitationFiguresSchema)
    members = fields.Nested(ReportMembersSchema)
    revocations = fields.Nested(RevocationsSchema)
    pauses = fields.List(fields.Nested(ReportPauseSchema))
    requests = fields.Nested(RequestFiguresSchema)
    appeals = fields.Nested(AppealFiguresSchema)
    cited_clauses = fields.List(fields.Nested(CitedClauseSchema))
    money = fields.Nested(MoneyFiguresSchema)
    audit = fields.Nested(AuditHeadSchema)

"""Forms of the money pages. The service checks every rule again and says why it refuses."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from access_program.compensation.models import ContributionKind, Severity

KIND_LABELS = {
    ContributionKind.BUG_REPORT.value: "Bug report",
    ContributionKind.RED_TEAM_FINDING.value: "Red-team finding",
    ContributionKind.FEEDBACK_SESSION.value: "Feedback hours",
}
SEVERITY_LABELS = {s.value: s.value.capitalize() for s in Severity}

AMOUNT_RE = re.compile(r"^\s*([+-])?\s*(\d{1,12})(?:\.(\d{1,2}))?\s*$")


def amount_to_minor(text: str | None) -> int | None:
    """ "12.5" → 1250, "-3" → -300: a decimal in major units to minor units, integers only
    (two decimals). None when it is not such a number."""
    match = AMOUNT_RE.match(text or "")
    if match is None:
        return None
    sign, major, minor = match.groups()
    value = int(major) * 100 + int((minor or "").ljust(2, "0"))
    return -value if sign == "-" else value


class ContributionForm(FlaskForm):
    kind = SelectField(
        "What did you do?",
        choices={"": "Choose one", **KIND_LABELS},
        validators=[DataRequired(message="Choose what kind of contribution it is.")],
    )
    title = StringField(
        "Title",
        validators=[DataRequired(message="Give the contribution a title."), Length(max=200)],
    )
    severity = SelectField(
        "Severity (bug reports and red-team findings)",
        choices={"": "Not applicable", **SEVERITY_LABELS},
        validators=[Optional()],
    )
    hours = StringField(
        "Hours (feedback only)",
        validators=[Optional(), Length(max=10)],
        description="For example 1.5: more than 0 and at most 24.",
    )
    description = TextAreaField("Description", validators=[Optional(), Length(max=10_000)])
    link = StringField(
        "Link (optional)",
        validators=[Optional(), Length(max=500)],
        description="An http(s) address: the issue, the conversation, the document.",
    )


class DeclineForm(FlaskForm):
    reason = TextAreaField(
        "Reason for declining",
        validators=[DataRequired(message="Give the reason: the artist reads it.")],
        description="The artist reads it.",
    )


class FeedbackSessionForm(FlaskForm):
    title = StringField(
        "Title",
        validators=[DataRequired(message="Give the session a title."), Length(max=200)],
    )
    held_on = DateField(
        "Held on", validators=[DataRequired(message="Give the day the session was held.")]
    )
    hours = StringField(
        "Hours",
        validators=[DataRequired(message="Give the length in hours."), Length(max=10)],
        description="For example 1.5: more than 0 and at most 24.",
    )
    artist_ids = SelectMultipleField(
        "Artists who took part",
        coerce=int,
        validators=[DataRequired(message="Choose at least one artist.")],
    )


class MarketingUseForm(FlaskForm):
    submission_id = SelectField(
        "Approved request",
        validators=[DataRequired(message="Choose the approved request that was used.")],
    )
    channel = StringField(
        "Channel",
        validators=[DataRequired(message="Say where it was used."), Length(max=200)],
        description="For example 'Company blog' or 'Launch video'.",
    )
    used_on = DateField("Used on", validators=[DataRequired(message="Give the day it was used.")])


class AdjustmentForm(FlaskForm):
    artist_id = SelectField(
        "Artist", validators=[DataRequired(message="Choose the artist to adjust.")]
    )
    amount = StringField(
        "Amount",
        validators=[DataRequired(message="Give the amount.")],
        description="In the artist's currency, for example 12.50; negative (-5) to debit.",
    )
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Give the reason: the artist reads it.")],
        description="The artist reads it.",
    )

"""Forms of the request pages. The service checks the rules again (reason length, clauses)."""

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from access_program.reviews.models import IntendedUse

USE_LABELS = {
    IntendedUse.SOCIAL_POST.value: "Social media post",
    IntendedUse.FESTIVAL.value: "Festival",
    IntendedUse.EXHIBITION.value: "Exhibition",
    IntendedUse.PORTFOLIO.value: "Portfolio",
    IntendedUse.PRESS.value: "Press",
    IntendedUse.COMMERCIAL.value: "Commercial work",
    IntendedUse.OTHER.value: "Other",
}

OUTCOME_LABELS = {
    "approved": "Approve",
    "changes_requested": "Request changes",
    "rejected": "Reject",
}

APPEAL_OUTCOME_LABELS = {
    "granted": "Grant the appeal: the request becomes approved",
    "upheld": "Uphold the rejection",
}


class RequestForm(FlaskForm):
    title = StringField(
        "Title",
        validators=[DataRequired(message="Give the output a title."), Length(max=200)],
    )
    description = TextAreaField(
        "Description",
        validators=[Optional(), Length(max=10_000)],
        description="What the output shows, in a few sentences (optional).",
    )
    output_ref = StringField(
        "Output reference",
        validators=[
            DataRequired(message="Give the output's id or URL in the tool."),
            Length(max=500),
        ],
        description="The output's id or URL in the generation tool.",
    )
    output_sha256 = StringField(
        "SHA-256 of the file (optional)",
        validators=[
            Optional(),
            Regexp(r"^[0-9a-fA-F]{64}$", message="A SHA-256 is 64 hexadecimal characters."),
        ],
        description="Lets the reviewers check that the file you share is the one approved.",
    )
    intended_use = SelectField(
        "Intended use",
        choices={"": "Choose one", **USE_LABELS},
        validators=[DataRequired(message="Choose how you intend to use the output.")],
    )
    venue = StringField(
        "Venue or channel",
        validators=[Optional(), Length(max=200)],
        description="For example 'Berlinale Shorts' or 'my Instagram account'.",
    )
    planned_date = DateField(
        "Planned date (optional)",
        validators=[Optional()],
        description="When you plan to share it.",
    )


class DecisionForm(FlaskForm):
    outcome = RadioField(
        "Outcome",
        choices=OUTCOME_LABELS,
        validators=[InputRequired(message="Choose an outcome.")],
    )
    reason = TextAreaField(
        "Reason",
        validators=[Length(max=10_000)],
        description="At least 20 characters; the artist reads it."
        " Required when you request changes or reject.",
    )
    #: Choices are the clauses of the terms version the artist accepted (set by the route).
    clauses = SelectMultipleField("Clauses of the content policy", validate_choice=False)
    allowed_uses = SelectMultipleField("Allowed uses (for an approval)", choices=USE_LABELS)


class ConfirmRejectionForm(FlaskForm):
    note = TextAreaField(
        "Note (optional)",
        validators=[Optional(), Length(max=10_000)],
        description="Recorded with your confirmation.",
    )


class AppealForm(FlaskForm):
    statement = TextAreaField(
        "Your statement",
        validators=[InputRequired(message="Explain your appeal."), Length(max=10_000)],
        description="Why the rejection should be reconsidered, in at least 20 characters."
        " A staff member who took no part in the rejection decides.",
    )


class AppealDecisionForm(FlaskForm):
    outcome = RadioField(
        "Decision on the appeal",
        choices=APPEAL_OUTCOME_LABELS,
        validators=[InputRequired(message="Choose to grant or uphold the appeal.")],
    )
    reason = TextAreaField(
        "Reason",
        validators=[Length(max=10_000)],
        description="At least 20 characters; the artist reads it.",
    )

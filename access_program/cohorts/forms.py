from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from access_program.cohorts.models import OnDeadline


class CohortForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional()])
    capacity = IntegerField(
        "Capacity",
        default=300,
        validators=[DataRequired(), NumberRange(min=1, max=100_000)],
        description="Members plus pending invitations never exceed this.",
    )
    review_hours = IntegerField(
        "Review deadline (hours)",
        default=72,
        validators=[DataRequired(), NumberRange(min=1, max=1440)],
    )
    on_deadline = SelectField(
        "When a review deadline passes",
        choices={
            OnDeadline.DEEMED_APPROVED.value: "Deem the request approved",
            OnDeadline.ESCALATE.value: "Escalate it to an admin",
        },
    )
    auto_grant = BooleanField("Grant tool access when an invitation is accepted", default=True)
    two_person_rule = BooleanField(
        "A rejection needs a second reviewer to confirm it", default=True
    )
    terms_id = SelectField("Terms", coerce=int, validators=[Optional()])
    starts_on = DateField("Starts on", validators=[Optional()])
    ends_on = DateField("Ends on", validators=[Optional()])


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])


class InviteCsvForm(FlaskForm):
    csv_file = FileField(
        "CSV file",
        validators=[FileRequired(), FileAllowed(["csv", "txt"], "Upload a .csv file.")],
        description="One email per row, in the first column (a header row 'email' is skipped).",
    )


class TermsForm(FlaskForm):
    label = StringField(
        "Label",
        validators=[DataRequired(), Length(max=120)],
        description="For example 'v2 — March 2027'.",
    )
    body = TextAreaField("Terms (Markdown)", validators=[DataRequired()])
    clauses = TextAreaField(
        "Content policy clauses",
        validators=[DataRequired()],
        description="One clause per line: CODE | Title | Text."
        " For example: P1 | No real people | Do not depict…",
    )
    currency = StringField(
        "Currency", default="USD", validators=[DataRequired(), Length(min=3, max=3)]
    )
    feedback_hour = IntegerField(
        "Per feedback hour (cents)", validators=[NumberRange(min=0)], default=0
    )
    bug_low = IntegerField("Bug report, low", validators=[NumberRange(min=0)], default=0)
    bug_medium = IntegerField("Bug report, medium", validators=[NumberRange(min=0)], default=0)
    bug_high = IntegerField("Bug report, high", validators=[NumberRange(min=0)], default=0)
    bug_critical = IntegerField("Bug report, critical", validators=[NumberRange(min=0)], default=0)
    red_team_low = IntegerField("Red-team finding, low", validators=[NumberRange(min=0)], default=0)
    red_team_medium = IntegerField(
        "Red-team finding, medium", validators=[NumberRange(min=0)], default=0
    )
    red_team_high = IntegerField(
        "Red-team finding, high", validators=[NumberRange(min=0)], default=0
    )
    red_team_critical = IntegerField(
        "Red-team finding, critical", validators=[NumberRange(min=0)], default=0
    )
    approved_output = IntegerField(
        "Per approved output", validators=[NumberRange(min=0)], default=0
    )
    marketing_use = IntegerField("Per marketing use", validators=[NumberRange(min=0)], default=0)
    monthly_stipend = IntegerField("Monthly stipend", validators=[NumberRange(min=0)], default=0)
    minimum_payout = IntegerField("Minimum payout", validators=[NumberRange(min=0)], default=0)


class AcceptInvitationForm(FlaskForm):
    name = StringField("Your name", validators=[Optional(), Length(max=120)])
    password = PasswordField(
        "Password", validators=[DataRequired()], description="At least 10 characters."
    )
    accept_terms = BooleanField(
        "I have read and accept these terms",
        validators=[DataRequired(message="Accept the terms to join.")],
    )


class AcceptTermsForm(FlaskForm):
    accept_terms = BooleanField(
        "I have read and accept these terms",
        validators=[DataRequired(message="Tick the box to accept.")],
    )

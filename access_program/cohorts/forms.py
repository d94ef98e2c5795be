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
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from access_program.cohorts.models import OnDeadline


class CohortForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter a name."), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional()])
    capacity = IntegerField(
        "Capacity",
        default=300,
        validators=[
            DataRequired(message="Enter the number of seats, 1 or more."),
            NumberRange(min=1, max=100_000, message="Use a number of seats from 1 to 100,000."),
        ],
        description="Members plus pending invitations never exceed this.",
    )
    review_hours = IntegerField(
        "Review deadline (hours)",
        default=72,
        validators=[
            DataRequired(message="Enter the review deadline in hours, 1 or more."),
            NumberRange(min=1, max=1440, message="Use from 1 to 1,440 hours (60 days)."),
        ],
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
    email = EmailField(
        "Email",
        validators=[
            DataRequired(message="Enter an email address."),
            Email(message="Enter an email address like name@example.org."),
        ],
    )


class InviteCsvForm(FlaskForm):
    csv_file = FileField(
        "CSV file",
        validators=[
            FileRequired(message="Choose a CSV file to upload."),
            FileAllowed(["csv", "txt"], "Upload a .csv file."),
        ],
        description="One email per row, in the first column (a header row 'email' is skipped).",
    )


class TermsForm(FlaskForm):
    label = StringField(
        "Label",
        validators=[DataRequired(message="Enter a label."), Length(max=120)],
        description="For example 'v2 — March 2027'.",
    )
    body = TextAreaField(
        "Terms (Markdown)", validators=[DataRequired(message="Enter the text of the terms.")]
    )
    clauses = TextAreaField(
        "Content policy clauses",
        validators=[DataRequired(message="Enter at least one clause.")],
        description="One clause per line: CODE | Title | Text."
        " For example: P1 | No real people | Do not depict…",
    )
    currency = StringField(
        "Currency",
        default="USD",
        validators=[
            DataRequired(message="Enter a currency code."),
            Length(min=3, max=3, message="Use a three-letter code such as USD."),
        ],
    )
    feedback_hour = IntegerField("Per feedback hour", validators=[NumberRange(min=0)], default=0)
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

    def validate_clauses(self, field: TextAreaField) -> None:
        """Every non-empty line is ``CODE | Title | Text``: all problems show at once."""
        bad = [
            str(number)
            for number, line in enumerate((field.data or "").splitlines(), start=1)
            if line.strip() and not _is_clause_line(line)
        ]
        if bad:
            raise ValidationError(
                f"Line{'s' if len(bad) > 1 else ''} {', '.join(bad)}: write CODE | Title | Text."
            )


def _is_clause_line(line: str) -> bool:
    parts = [p.strip() for p in line.split("|", 2)]
    return len(parts) == 3 and all(parts)


class AcceptInvitationForm(FlaskForm):
    name = StringField("Your name", validators=[Optional(), Length(max=120)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(message="Enter a password.")],
        description="At least 10 characters.",
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

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from access_program.access.models import RevocationCategory

CATEGORY_CHOICES = {c.value: c.value.replace("_", " ").capitalize() for c in RevocationCategory}


class RevokeForm(FlaskForm):
    category = SelectField("Category", choices=CATEGORY_CHOICES)
    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired(message="Give the reason the artist will read."),
            Length(max=5000),
        ],
        description="The artist reads this reason. Be specific.",
    )


class GrantForm(FlaskForm):
    expires_at = DateTimeLocalField(
        "Expires (UTC, optional)", validators=[Optional()], format="%Y-%m-%dT%H:%M"
    )


class PauseForm(FlaskForm):
    scope = SelectField("Scope")
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Give the reason artists will see."), Length(max=5000)],
        description="Shown to every affected artist on every page and in their email.",
    )
    expected_end = DateTimeLocalField(
        "Expected end (UTC, optional)", validators=[Optional()], format="%Y-%m-%dT%H:%M"
    )


class EndPauseForm(FlaskForm):
    note = TextAreaField("Note to artists (optional)", validators=[Optional(), Length(max=5000)])


class ExternalIdForm(FlaskForm):
    external_id = StringField("Generation tool user id", validators=[Optional(), Length(max=128)])

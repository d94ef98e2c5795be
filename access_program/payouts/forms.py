"""Forms of the payout pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, Optional


class RunForm(FlaskForm):
    cohort_id = SelectField("Cohort", choices={"": "All cohorts"})


class CancelRunForm(FlaskForm):
    reason = TextAreaField(
        "Why (optional, kept in the audit trail)", validators=[Optional(), Length(max=500)]
    )

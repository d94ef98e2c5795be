"""Forms of the payout pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField


class RunForm(FlaskForm):
    cohort_id = SelectField("Cohort", choices={"": "All cohorts"})

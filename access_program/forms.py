"""What every page form route does with a refusal (the forms themselves live in each domain)."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from access_program.errors import DomainError


def invalid_form_status(form: FlaskForm) -> int:
    """400 for a missing or stale CSRF token, 422 for invalid fields."""
    return 400 if form.csrf_token.errors else 422


def form_errors(form: FlaskForm, exc: DomainError) -> None:
    """A service refusal next to the fields it names; one no field owns is flashed."""
    placed = False
    for name, messages in (exc.details or {}).items():
        field = form._fields.get(name)
        if field is not None and isinstance(messages, list):
            field.errors = [*field.errors, *(str(m) for m in messages)]
            placed = True
    if not placed:
        flash(exc.message, "error")

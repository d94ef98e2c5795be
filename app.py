"""Entry point for `flask --app app` and `gunicorn app:app`."""

from access_program import create_app

app = create_app()

"""The public transparency report (SPEC §3.12): aggregate figures only, program-wide and per
cohort."""

from flask import current_app

#: Reports per client address, on the page and on the API each: every one runs a dozen
#: aggregate queries over the whole program.
DEFAULT_RATE_LIMIT = "60 per minute"


def rate_limit() -> str:
    """The report's rate limit (Flask-Limiter notation), read per request from the config key
    ``TRANSPARENCY_RATE_LIMIT``."""
    return current_app.config.get("TRANSPARENCY_RATE_LIMIT", DEFAULT_RATE_LIMIT)

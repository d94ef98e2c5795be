"""Jinja filters and globals shared by every page.

Money, dates and statuses are formatted here and nowhere else, so a page never shows "350.0" or a
naive timestamp. Markdown from terms and policies is rendered by markdown-it-py with raw HTML off
and then sanitized with nh3, so neither a stray ``<script>`` nor a ``javascript:`` link survives.
"""

from __future__ import annotations

import datetime as dt
import operator
from enum import Enum
from typing import Any

import nh3
from flask import Flask, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.routing import BuildError

EMPTY = "—"

#: Symbol placed before the amount; any other currency is written after it ("12.50 CHF").
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
#: ISO 4217 minor-unit exponents that are not 2.
CURRENCY_EXPONENTS = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_markdown = MarkdownIt("commonmark", {"html": False})
_ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def money(amount_minor: int | None, currency: str | None = "USD") -> str:
    """Format integer minor units: 35000, "USD" -> "$350.00"; -500 -> "-$5.00".

    Integer arithmetic only; a float raises TypeError rather than being rounded silently.
    """
    if amount_minor is None:
        return EMPTY
    amount = operator.index(amount_minor)
    code = (currency or "USD").upper()
    exponent = CURRENCY_EXPONENTS.get(code, 2)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**exponent)
    number = f"{major:,}"
    if exponent:
        number += f".{minor:0{exponent}d}"
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {code}"


def _as_utc(value: dt.datetime) -> dt.datetime:
    # Naive values are taken to be UTC already: everything is stored in UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def format_date(value: dt.date | dt.datetime | None) -> str:
    """26 Nov 2026."""
    if value is None:
        return EMPTY
    if isinstance(value, dt.datetime):
        value = _as_utc(value)
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def format_datetime(value: dt.datetime | dt.date | None) -> str:
    """26 Nov 2026, 14:05 UTC (a bare date is shown as a date)."""
    if value is None:
        return EMPTY
    if not isinstance(value, dt.datetime):
        return format_date(value)
    value = _as_utc(value)
    return f"{format_date(value)}, {value:%H:%M} UTC"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def relative(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """Time from ``now`` in words: "in 2 days", "3 h ago", "in 5 min", "just now".

    Whole units, rounded down, so a deadline is never shown later than it is.
    """
    if value is None:
        return EMPTY
    now = _as_utc(now) if now is not None else _utcnow()
    seconds = int((_as_utc(value) - now).total_seconds())
    future = seconds > 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        span = f"{seconds // 60} min"
    elif seconds < 86400:
        span = f"{seconds // 3600} h"
    else:
        span = _plural(seconds // 86400, "day")
    return f"in {span}" if future else f"{span} ago"


def status_label(status: Any) -> str:
    """Human text for a status: "deemed_approved" -> "deemed approved"; enums too."""
    if status is None:
        return EMPTY
    if isinstance(status, Enum):
        status = status.value
    return str(status).replace("_", " ")


def render_markdown(text: str | None) -> Markup:
    """Markdown (CommonMark, raw HTML off) rendered and sanitized: safe to put in a page."""
    if not text:
        return Markup("")
    html = _markdown.render(text)
    return Markup(nh3.clean(html, url_schemes=_ALLOWED_URL_SCHEMES))


def url_for_or(endpoint: str, fallback: str = "/", **values: Any) -> str:
    """url_for, or ``fallback`` when the endpoint is not registered.

    The layout and the error pages link to sign-in and sign-out; an error page must never fail
    to render because an app (or a test app) was built without the accounts blueprint.
    """
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return fallback


def register_template_helpers(app: Flask) -> None:
    """Install the filters, globals and the ``now`` context variable on ``app``."""
    app.jinja_env.filters.update(
        money=money,
        datetime=format_datetime,
        date=format_date,
        relative=relative,
        status_label=status_label,
        markdown=render_markdown,
    )
    app.jinja_env.globals.update(url_for_or=url_for_or)

    @app.context_processor
    def inject_now() -> dict[str, dt.datetime]:
        return {"now": _utcnow()}

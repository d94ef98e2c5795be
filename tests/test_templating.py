"""Template filters: pure functions, no database, no app factory."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from html.parser import HTMLParser

import pytest
from flask import Flask, render_template_string
from markupsafe import Markup

from access_program.templating import (
    format_date,
    format_datetime,
    money,
    register_template_helpers,
    relative,
    render_markdown,
    status_label,
)

NOW = dt.datetime(2026, 11, 26, 14, 5, tzinfo=dt.UTC)


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    register_template_helpers(app)
    return app


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (35000, "USD", "$350.00"),
        (1250, "EUR", "€12.50"),
        (123400, "GBP", "£1,234.00"),
        (-500, "USD", "-$5.00"),
        (0, "USD", "$0.00"),
        (7, "USD", "$0.07"),
        (-7, "USD", "-$0.07"),
        (123456789, "USD", "$1,234,567.89"),
        (-123456789, "EUR", "-€1,234,567.89"),
        (1250, "CHF", "12.50 CHF"),
        (-123400, "chf", "-1,234.00 CHF"),
        (1234, "JPY", "¥1,234"),
        (1234, "KWD", "1.234 KWD"),
    ],
)
def test_money(amount: int, currency: str, expected: str) -> None:
    assert money(amount, currency) == expected


def test_money_defaults_to_usd_and_handles_none() -> None:
    assert money(35000) == "$350.00"
    assert money(None) == "—"


def test_money_is_exact_for_large_amounts() -> None:
    # Beyond 2**53 a float would lose cents.
    assert money(2**60 + 1, "USD") == "$11,529,215,046,068,469.77"


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        money(350.0, "USD")  # type: ignore[arg-type]


def test_datetime() -> None:
    assert format_datetime(NOW) == "26 Nov 2026, 14:05 UTC"
    assert format_datetime(dt.datetime(2026, 3, 5, 9, 7, tzinfo=dt.UTC)) == "5 Mar 2026, 09:07 UTC"
    assert format_datetime(None) == "—"


def test_datetime_converts_other_zones_to_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert (
        format_datetime(dt.datetime(2026, 11, 26, 15, 5, tzinfo=paris)) == "26 Nov 2026, 14:05 UTC"
    )
    # Midnight in Paris is still the previous day in UTC.
    assert format_date(dt.datetime(2026, 1, 1, 0, 30, tzinfo=paris)) == "31 Dec 2025"


def test_datetime_treats_naive_values_as_utc() -> None:
    assert format_datetime(dt.datetime(2026, 11, 26, 14, 5)) == "26 Nov 2026, 14:05 UTC"


def test_date() -> None:
    assert format_date(dt.date(2026, 11, 26)) == "26 Nov 2026"
    assert format_date(NOW) == "26 Nov 2026"
    assert format_date(None) == "—"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (dt.timedelta(days=2), "in 2 days"),
        (dt.timedelta(days=2, hours=5), "in 2 days"),
        (dt.timedelta(days=1), "in 1 day"),
        (-dt.timedelta(days=2), "2 days ago"),
        (dt.timedelta(hours=3), "in 3 h"),
        (-dt.timedelta(hours=3, minutes=59), "3 h ago"),
        (dt.timedelta(minutes=5), "in 5 min"),
        (-dt.timedelta(minutes=5), "5 min ago"),
        (dt.timedelta(seconds=30), "just now"),
        (-dt.timedelta(seconds=59), "just now"),
        (dt.timedelta(0), "just now"),
    ],
)
def test_relative(delta: dt.timedelta, expected: str) -> None:
    assert relative(NOW + delta, NOW) == expected


def test_relative_defaults_to_the_current_time() -> None:
    assert relative(dt.datetime.now(dt.UTC) + dt.timedelta(hours=5, minutes=1)) == "in 5 h"
    assert relative(None) == "—"


class _Status(StrEnum):
    DEEMED_APPROVED = "deemed_approved"


def test_status_label() -> None:
    assert status_label("in_review") == "in review"
    assert status_label("deemed_approved") == "deemed approved"
    assert status_label("paid") == "paid"
    assert status_label(_Status.DEEMED_APPROVED) == "deemed approved"


def test_markdown_renders_commonmark() -> None:
    html = render_markdown("# Terms\n\nYou are **paid** for [feedback](https://example.com/rates).")
    assert isinstance(html, Markup)
    assert "<h1>Terms</h1>" in html
    assert "<strong>paid</strong>" in html
    assert 'href="https://example.com/rates"' in html


class _Collector(HTMLParser):
    """The tags and attributes a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.setdefault(name, []).append((value or "").strip().lower())


def _parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def test_markdown_strips_script() -> None:
    html = render_markdown("Hello <script>alert('x')</script>\n\n<script>\nalert(1)\n</script>")
    assert "script" not in _parse(html).tags
    assert "&lt;script&gt;" in html  # shown as text, harmless


def test_markdown_strips_raw_html_and_event_handlers() -> None:
    html = render_markdown('<img src="x" onerror="alert(1)">\n\n<a href="/" onclick="x()">a</a>')
    parsed = _parse(html)
    assert parsed.tags == ["p", "p"]
    assert not [name for name in parsed.attrs if name.startswith("on")]


@pytest.mark.parametrize(
    "source",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](java\tscript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
        "<javascript:alert(1)>",
        "![img](javascript:alert(1))",
        # markdown-it lets these image data: URLs through; nh3 must remove them.
        "![img](data:image/png;base64,iVBORw0KGgo=)",
        "[x](data:image/png;base64,iVBORw0KGgo=)",
    ],
)
def test_markdown_drops_dangerous_links(source: str) -> None:
    # The Markdown may stay on the page as text; what matters is that no link or image uses it.
    parsed = _parse(render_markdown(source))
    urls = parsed.attrs.get("href", []) + parsed.attrs.get("src", [])
    assert not [u for u in urls if not u.startswith(("http:", "https:", "mailto:", "/", "#"))]


def test_markdown_empty() -> None:
    assert render_markdown(None) == Markup("")
    assert render_markdown("") == Markup("")


def test_filters_are_registered(app: Flask) -> None:
    filters = app.jinja_env.filters
    for name in ("money", "datetime", "date", "relative", "status_label", "markdown"):
        assert name in filters
    assert filters["money"](35000, "USD") == "$350.00"
    assert filters["status_label"]("changes_requested") == "changes requested"


def test_filters_in_a_template(app: Flask) -> None:
    source = (
        "{{ amount|money('GBP') }}|{{ when|datetime }}|{{ when|date }}|"
        "{{ later|relative(when) }}|{{ 'in_review'|status_label }}|{{ body|markdown }}"
    )
    with app.test_request_context():
        out = render_template_string(
            source,
            amount=123400,
            when=NOW,
            later=NOW + dt.timedelta(days=2),
            body="**b** <script>x</script>",
        )
    assert out.startswith("£1,234.00|26 Nov 2026, 14:05 UTC|26 Nov 2026|in 2 days|in review|")
    assert "<strong>b</strong>" in out
    assert "<script>" not in out


def test_now_in_context(app: Flask) -> None:
    with app.test_request_context():
        out = render_template_string("{{ now.tzinfo is not none }} {{ now|date }}")
    assert out.startswith("True ")


def test_url_for_or_falls_back_when_the_endpoint_is_missing(app: Flask) -> None:
    with app.test_request_context():
        out = render_template_string("{{ url_for_or('accounts.login', '/login') }}")
    assert out == "/login"

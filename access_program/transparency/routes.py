"""The public transparency report page: no sign-in needed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template, request, url_for

from access_program.compensation.service import kind_words
from access_program.errors import NotFound
from access_program.extensions import limiter
from access_program.transparency import rate_limit
from access_program.transparency.service import SMALL_COUNT, build_report

bp = Blueprint("transparency", __name__)

CATEGORY_WORDS = {
    "misconduct": "Misconduct",
    "inactivity": "Inactivity",
    "artist_request": "At the artist's request",
    "program_end": "End of the program",
    "other": "Other",
}
WITHHELD = f"Not shown (fewer than {SMALL_COUNT})"
#: A count left out so that a "<5" beside it cannot be worked out (it may be 5 or more).
WITHHELD_COUNT = f"Not shown (would reveal a count under {SMALL_COUNT})"
#: A credited amount resting on 1 to 4 artists, or one that would reveal such an amount.
WITHHELD_CREDIT = f"Not shown (would single out fewer than {SMALL_COUNT} artists)"
WITHHELD_PAID = f"Not shown (fewer than {SMALL_COUNT} artists paid)"
UNANNOUNCED_COHORT = "A cohort not yet announced"
UNANNOUNCED_REASON = "Not published: the cohort is not yet announced"

Count = int | str | None


def number(value: Count) -> str:
    """A count as published: "1,204", "<5" as it is, or a note when withheld (None)."""
    if value is None:
        return WITHHELD_COUNT
    return value if isinstance(value, str) else f"{value:,}"


def share_text(share: float | None, whole: Count) -> str:
    """A share as a percentage; a dash when there is nothing to divide, a note when withheld."""
    if share is not None:
        return f"{share:.0%}"
    return "—" if whole == 0 else WITHHELD


def hours_text(hours: float | None, basis: Count) -> str:
    if hours is not None:
        return f"{hours:,.1f} h"
    return "—" if basis == 0 else WITHHELD


def part_of(part: Count, whole: Count, share: float | None) -> str:
    """ "3 of 5 (60%)"; the percentage only where it is shown."""
    text = f"{number(part)} of {number(whole)}"
    return f"{text} ({share:.0%})" if share is not None else text


def duration_text(delta: dt.timedelta) -> str:
    """ "3 d 4 h", "5 h 20 min", "12 min"."""
    minutes = int(delta.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _scopes(report: dict[str, Any]) -> list[dict[str, Any]]:
    current = report["cohort"]["id"] if report["cohort"] else None
    scopes = [{"label": "Whole program", "url": url_for(".report"), "current": current is None}]
    for cohort in report["cohorts"]:
        label = cohort["name"] + (" (closed)" if cohort["status"] == "closed" else "")
        url = url_for(".report", cohort_id=cohort["id"])
        scopes.append({"label": label, "url": url, "current": cohort["id"] == current})
    return scopes


def _pause_scope(pause: dict[str, Any]) -> str:
    if pause["scope"] == "global":
        return "Whole program"
    if pause["cohort_name"] is None:
        return UNANNOUNCED_COHORT
    return f"Cohort {pause['cohort_name']}"


def _pause_rows(pauses: list[dict[str, Any]], now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "scope": _pause_scope(p),
            "reason": UNANNOUNCED_REASON if p["reason"] is None else p["reason"],
            "started_at": p["started_at"],
            "expected_end_at": p["expected_end_at"],
            "ended_at": p["ended_at"],
            "ongoing": p["ongoing"],
            "duration": duration_text((p["ended_at"] or now) - p["started_at"]),
        }
        for p in pauses
    ]


def page_context(report: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, formatted: the template only places it."""
    inv, members = report["invitations"], report["members"]
    req, appeals, money = report["requests"], report["appeals"], report["money"]
    revocations = report["revocations"]
    currencies = {row["currency"] for row in money["credited_total"]}
    return {
        "report": report,
        "scopes": _scopes(report),
        "api_url": url_for(
            "transparency_api.Transparency",
            **({"cohort_id": report["cohort"]["id"]} if report["cohort"] else {}),
        ),
        "cohort": report["cohort"],
        "masked": report["small_counts_masked"],
        "people_rows": [
            ("Invitations sent", number(inv["sent"])),
            ("Accepted", number(inv["accepted"])),
            ("Declined", number(inv["declined"])),
            ("Expired unanswered", number(inv["expired"])),
            ("Withdrawn by the program", number(inv["withdrawn"])),
            ("Still pending", number(inv["pending"])),
            ("Active members", number(members["active"])),
            ("Artists who ever joined", number(members["total"])),
        ],
        "revocation_rows": [
            (words, number(revocations["by_category"][key]))
            for key, words in CATEGORY_WORDS.items()
        ],
        "revocation_total": number(revocations["total"]),
        "pause_rows": _pause_rows(report["pauses"], report["generated_at"]),
        "request_rows": [
            ("Requests received", number(req["received"])),
            ("Decisions made", number(req["decisions"])),
            (
                "Median time to a decision",
                hours_text(req["median_hours_to_decision"], req["decisions"]),
            ),
            ("90% decided within", hours_text(req["p90_hours_to_decision"], req["decisions"])),
            (
                "Decided within the review deadline",
                part_of(
                    req["decided_within_deadline"],
                    req["decisions"],
                    req["share_decided_within_deadline"],
                ),
            ),
            ("Deemed approved (deadline passed)", number(req["deemed_approved"])),
            ("Escalated (deadline passed)", number(req["escalated"])),
        ],
        "outcome_rows": [(status, number(count)) for status, count in req["outcomes"].items()],
        "appeal_rows": [
            ("Appeals filed", number(appeals["filed"])),
            ("Waiting for a decision", number(appeals["pending"])),
            ("Granted", number(appeals["granted"])),
            ("Upheld", number(appeals["upheld"])),
            (
                "Share granted",
                share_text(appeals["share_granted"], appeals["decided"]),
            ),
        ],
        "clause_rows": [
            {"code": c["code"], "title": c["title"], "citations": number(c["citations"])}
            for c in report["cited_clauses"]
        ],
        "credited_rows": [
            {
                "kind": kind_words(row["kind"]).capitalize(),
                "amount_minor": row["amount_minor"],
                "currency": row["currency"],
            }
            for row in money["credited_by_kind"]
        ],
        "credited_total": money["credited_total"],
        "several_currencies": len(currencies) > 1,
        "paid_rows": money["paid"],
        "withheld_credit": WITHHELD_CREDIT,
        "withheld_paid": WITHHELD_PAID,
        "artists_paid": part_of(
            money["artists_paid"], money["artists"], money["share_of_artists_paid"]
        ),
        "audit": report["audit"],
    }


@bp.get("/transparency")
@limiter.limit(rate_limit)
def report():
    raw = request.args.get("cohort_id", "").strip()
    cohort_id = None
    if raw:
        if not (raw.isascii() and raw.isdigit()):
            raise NotFound(f"No cohort {raw!r} in the transparency report.")
        cohort_id = int(raw)
    return render_template("transparency/report.html", **page_context(build_report(cohort_id)))

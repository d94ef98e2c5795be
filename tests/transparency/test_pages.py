"""GET /transparency: the public page, program-wide and per cohort, without JavaScript."""

from __future__ import annotations

import html
import re

import pytest

from access_program.audit.service import head
from access_program.db import db as _db
from access_program.db import utcnow
from tests.factories import MembershipFactory, PauseFactory, UserFactory
from tests.transparency import COHORT_PAUSE_REASON, PROGRAM_PAUSE_REASON, hours

URL = "/transparency"
SUMMARY_ROW = re.compile(
    r'<dt class="summary-list__key">(.*?)</dt>\s*<dd class="summary-list__value">(.*?)</dd>', re.S
)
ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def summary(page: str) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in SUMMARY_ROW.findall(page)}


def table_rows(page: str) -> list[list[str]]:
    """Every table row as the texts of its cells."""
    return [[_text(cell) for cell in CELL.findall(row)] for row in ROW.findall(page)]


def get(client, query: dict | None = None) -> str:
    response = client.get(URL, query_string=query or {})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_the_footer_link_works_without_signing_in(db, client):
    page = get(client)

    assert '<a href="/transparency">Transparency report</a>' in page
    assert "<h1>Transparency report</h1>" in page
    assert "No pauses so far" in page
    assert "Nothing has been credited yet." in page
    assert "<script" not in page.split('<main id="main-content"')[1].split("</main>")[0]


@pytest.mark.parametrize("role", ["artist", "staff", "admin"])
def test_signed_in_people_see_the_same_page(db, pages, role):
    user = MembershipFactory().user if role == "artist" else UserFactory(**{role: True})
    _db.session.commit()
    pages.login(user)

    assert pages.get(URL).status_code == 200


def test_program_figures_are_shown_exactly(dataset, client):
    page = get(client)
    rows = summary(page)

    assert rows["Invitations sent"] == "12"
    assert rows["Accepted"] == "5"
    assert rows["Declined"] == "1"
    assert rows["Expired unanswered"] == "2"
    assert rows["Withdrawn by the program"] == "1"
    assert rows["Still pending"] == "3"
    assert rows["Active members"] == "6"
    assert rows["Artists who ever joined"] == "7"
    assert rows["Requests received"] == "5"
    assert rows["Decisions made"] == "5"
    assert rows["Median time to a decision"] == "30.0 h"
    assert rows["90% decided within"] == "89.2 h"
    assert rows["Decided within the review deadline"] == "3 of 5 (60%)"
    assert rows["Deemed approved (deadline passed)"] == "1"
    assert rows["Appeals filed"] == "1"
    assert rows["Granted"] == "1"
    assert rows["Share granted"] == "100%"
    assert rows["Artists paid"] == "3 of 7 (43%)"
    table = table_rows(page)
    for category in ("Misconduct", "Inactivity", "At the artist's request", "End of the program"):
        assert [category, "1"] in table
    assert ["Total", "5"] in table  # revocations
    assert ["approved", "2"] in table and ["rejected", "0"] in table  # requests by status
    assert ["P1", "No real people", "2"] in table
    assert ["P2", "No confidential features", "1"] in table
    assert ["Marketing use", "$500.00"] in table
    assert ["Bug report", "$20.00"] in table  # $30 more was credited, then corrected
    assert ["Stipend", "$250.00"] in table
    assert ["Red-team finding", "$0.00"] in table
    assert ["Total", "$820.00"] in table  # credited
    assert ["USD", "$770.00", "$200.00"] in table  # paid, and the median per paid artist


def test_pauses_show_reason_dates_and_duration(dataset, client):
    page = get(client)

    assert PROGRAM_PAUSE_REASON in page and COHORT_PAUSE_REASON in page
    assert "6 h 0 min" in page
    assert "Cohort Borealis" in page and "in force" in page


def test_cohorts_are_links_and_drafts_are_not_named(dataset, client):
    page = get(client)

    assert f'href="/transparency?cohort_id={dataset.aurora.id}"' in page
    assert "Cygnus (closed)" in page
    assert "Secret draft cohort" not in page


def test_a_cohort_page_masks_small_counts(dataset, client):
    page = get(client, {"cohort_id": dataset.aurora.id})
    rows = summary(page)

    assert "<h1>Aurora</h1>" in page
    assert "shown as\n  “&lt;5”" in page or "“&lt;5”" in page
    assert rows["Invitations sent"] == "Not shown (would reveal a count under 5)"
    assert rows["Accepted"] == "5"
    assert rows["Declined"] == "<5"
    assert rows["Still pending"] == "<5"
    assert rows["Withdrawn by the program"] == "0"
    assert rows["Active members"] == "5"
    assert rows["Decided within the review deadline"] == "<5 of 5"
    assert rows["Median time to a decision"] == "30.0 h"
    assert rows["Share granted"] == "Not shown (fewer than 5)"
    assert rows["Artists paid"] == "<5 of 6"
    table = table_rows(page)
    assert ["Misconduct", "<5"] in table
    assert ["Total", "Not shown (would reveal a count under 5)"] in table  # revocations
    assert ["P1", "No real people", "<5"] in table
    paid = "Not shown (fewer than 5 artists paid)"
    assert ["USD", paid, paid] in table  # two artists paid
    credit = "Not shown (would single out fewer than 5 artists)"
    assert ["Marketing use", credit] in table and ["Total", credit] in table
    assert ["Stipend", "$0.00"] in table
    assert PROGRAM_PAUSE_REASON in page and COHORT_PAUSE_REASON not in page


def test_an_empty_cohort_shows_zeros_and_dashes(dataset, client):
    rows = summary(get(client, {"cohort_id": dataset.cygnus.id}))

    assert rows["Invitations sent"] == "0"
    assert rows["Median time to a decision"] == "—"
    assert rows["Share granted"] == "—"


@pytest.mark.parametrize("value", ["999999", "abc", "0", "²", "-1"])
def test_a_cohort_without_a_report_is_a_404_page(dataset, client, value):
    response = client.get(URL, query_string={"cohort_id": value})

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_a_draft_cohort_has_no_page(dataset, client):
    assert client.get(URL, query_string={"cohort_id": dataset.draft.id}).status_code == 404


def test_nothing_personal_is_shown(dataset, client):
    for query in ({}, {"cohort_id": dataset.aurora.id}, {"cohort_id": dataset.borealis.id}):
        page = get(client, query)
        for secret in dataset.secrets:
            assert secret not in page
            assert html.escape(secret) not in page


def test_the_audit_head_hash_is_the_chains(dataset, client):
    seq, head_hash = head()
    page = get(client)

    assert f'<code class="mono" data-head-hash>{head_hash}</code>' in page
    assert summary(page)["Events"] == str(seq)


def test_a_draft_cohorts_pause_shows_dates_but_no_name_or_reason(dataset, client):
    now = utcnow()
    PauseFactory(
        scope="cohort",
        cohort=dataset.draft,
        reason="Vendor Orion onboarding.",
        started_at=now - hours(30),
        ended_at=now - hours(27),
    )

    page = get(client)

    assert "Orion" not in page and "Secret draft cohort" not in page
    (row,) = [row for row in table_rows(page) if "3 h 0 min" in row]
    assert row[:2] == [
        "A cohort not yet announced",
        "Not published: the cohort is not yet announced",
    ]


def test_a_cohort_page_withholds_money_resting_on_few_artists(dataset, client):
    table = table_rows(get(client, {"cohort_id": dataset.borealis.id}))

    paid = "Not shown (fewer than 5 artists paid)"
    assert ["USD", paid, paid] in table  # one artist's payout
    assert ["Stipend", "Not shown (would single out fewer than 5 artists)"] in table

"""The report's arithmetic, and its figures for records written by the real services."""

from __future__ import annotations

import datetime as dt

import pytest

from access_program.access import service as access
from access_program.reviews import service as reviews
from access_program.transparency.service import (
    build_report,
    mask_count,
    median_minor,
    percentile,
)
from tests.factories import CohortFactory, GrantFactory, MembershipFactory, UserFactory

REQUEST = {
    "title": "Night swim",
    "description": "Three minutes of a lake at night.",
    "output_ref": "gen://outputs/123",
    "output_sha256": None,
    "intended_use": "festival",
    "venue": "Berlinale Shorts",
    "planned_date": dt.date(2031, 2, 14),
}
REASON = "Frame 3 shows the unreleased timeline feature."


@pytest.mark.parametrize(
    ("count", "published"), [(0, 0), (1, "<5"), (2, "<5"), (4, "<5"), (5, 5), (300, 300)]
)
def test_counts_from_1_to_4_are_masked(count, published):
    assert mask_count(count) == published


def test_percentiles_interpolate_between_ranks_like_percentile_cont():
    hours = [100, 10, 73, 30, 20]

    assert percentile(hours, 0.5) == 30
    assert percentile(hours, 0.9) == pytest.approx(89.2)
    assert percentile([7.5], 0.9) == 7.5
    assert percentile([], 0.5) is None


def test_the_median_of_money_stays_in_whole_minor_units():
    assert median_minor([]) is None
    assert median_minor([52000, 5000, 20000]) == 20000
    assert median_minor([5000, 52000]) == 28500
    assert median_minor([1, 2]) == 1  # rounded down, never a float


def test_decisions_made_through_the_services_are_timed_including_middle_revisions(db):
    """Three revisions: the second one's submission time is read from its audit event."""
    membership = MembershipFactory(cohort=CohortFactory(review_hours=48))
    artist, reviewer = membership.user, UserFactory(staff=True)
    submission = reviews.submit_request(artist, REQUEST)
    for _ in range(2):
        reviews.claim_request(reviewer, submission)
        reviews.decide_request(
            reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P1"]
        )
        reviews.revise_request(artist, submission, REQUEST)
    reviews.claim_request(reviewer, submission)
    reviews.decide_request(reviewer, submission, outcome="approved")
    assert submission.revision == 3

    requests = build_report()["requests"]

    assert requests["decisions"] == 3
    assert requests["decided_within_deadline"] == 3
    assert requests["share_decided_within_deadline"] == 1.0
    assert requests["median_hours_to_decision"] == 0.0
    assert requests["outcomes"]["approved"] == 1
    assert build_report()["cited_clauses"] == [
        {"code": "P1", "title": "No real people", "citations": 2}
    ]


def test_a_rejection_counts_when_confirmed_and_a_lapse_is_not_in_time(db):
    cohort = CohortFactory(review_hours=1)
    proposer, confirmer = UserFactory(staff=True), UserFactory(staff=True)
    first = reviews.submit_request(MembershipFactory(cohort=cohort).user, REQUEST)
    reviews.claim_request(proposer, first)
    reviews.decide_request(proposer, first, outcome="rejected", reason=REASON, clauses=["P2"])
    assert build_report()["requests"]["decisions"] == 0  # only proposed so far

    reviews.confirm_rejection(confirmer, first, "Agreed.")
    second = reviews.submit_request(MembershipFactory(cohort=cohort).user, REQUEST)
    reviews.apply_deadlines(now=second.due_at + dt.timedelta(minutes=1))

    requests = build_report()["requests"]
    assert requests["decisions"] == 2
    assert requests["deemed_approved"] == 1
    assert requests["decided_within_deadline"] == 1  # the rejection; the lapse never is
    assert requests["outcomes"]["rejected"] == 1


def test_revocations_and_pauses_made_through_the_services(db):
    admin = UserFactory(admin=True)
    grant = GrantFactory()
    access.revoke_grant(admin.actor, grant, "misconduct", "Shared the tool with a stranger.")
    pause = access.start_pause(admin.actor, scope="global", reason="Model update.")
    access.end_pause(admin.actor, pause, "Back.")

    body = build_report()

    assert body["revocations"]["by_category"]["misconduct"] == 1
    assert [p["reason"] for p in body["pauses"]] == ["Model update."]
    assert body["pauses"][0]["ongoing"] is False
    assert "Shared the tool" not in str(body)


def test_an_artist_in_two_cohorts_is_one_artist_of_the_program(db):
    user = UserFactory()
    MembershipFactory(user=user, ended=True)
    MembershipFactory(user=user)

    members = build_report()["members"]

    assert members == {"active": 1, "total": 1}

"""A cohort's masked counts cannot be worked out from the figures published beside them.

Each test publishes a cohort's report and then attacks it the way a reader could: every
published figure becomes a constraint ("<5" is 1 to 4; a withheld part, null, is 5 or more,
since smaller ones are "<5" and zeros are shown; a number is itself; a total is the sum of its
parts; a share is their ratio), every combination of values is tried, and what each masked
count, and the sum of the masked counts, could still be is collected. None may be left with a
single possible value. Program-wide figures stay exact (SPEC §3.12).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from access_program.cohorts.models import Cohort, InvitationStatus
from access_program.reviews.models import Status
from access_program.transparency.service import MASK, build_report
from tests.factories import (
    AppealFactory,
    CohortFactory,
    ContributionFactory,
    GrantFactory,
    InvitationFactory,
    LedgerEntryFactory,
    MembershipFactory,
    PayoutFactory,
    SubmissionFactory,
)

Count = int | str | None
#: Withheld parts are tried from 5 up to here: well above every count of these tests.
BOUND = 24


# --- the attack ----------------------------------------------------------------------------


def domain(published: Count) -> range:
    """The values a reader can tell a published part may have."""
    if published == MASK:
        return range(1, 5)
    if published is None:
        return range(5, BOUND)
    assert isinstance(published, int), published
    return range(published, published + 1)


def fits(total: Count, value: int) -> bool:
    if total is None:
        return True  # withheld: no constraint
    if total == MASK:
        return 1 <= value <= 4
    return total == value


def solutions(
    parts: dict[str, Iterable[Count]],
    sums: Iterable[tuple[Count, list[str]]],
    shares: Iterable[tuple[float | None, str, list[str]]] = (),
) -> list[dict[str, int]]:
    """Every assignment of values consistent with the published figures.

    ``parts``: each unknown with the published values that all stand for it (an appeal's outcome
    and the request's status are the same count); ``sums``: (published total, its parts);
    ``shares``: (published share, numerator, the parts of the denominator)."""
    names = list(parts)
    domains = []
    for name in names:
        allowed = set(domain(next(iter(parts[name]))))
        for published in parts[name]:
            allowed &= set(domain(published))
        domains.append(sorted(allowed))
    sums, shares = list(sums), list(shares)
    found = []
    for combination in itertools.product(*domains):
        values = dict(zip(names, combination, strict=True))
        if not all(fits(total, sum(values[p] for p in group)) for total, group in sums):
            continue
        if not all(
            share is None or round(values[top] / sum(values[p] for p in bottom), 4) == share
            for share, top, bottom in shares
            if sum(values[p] for p in bottom)
        ):
            continue
        found.append(values)
    assert found, "the published figures contradict each other"
    return found


def possible(found: list[dict[str, int]], *names: str) -> set[int]:
    """What the sum of these unknowns can be."""
    return {sum(values[name] for name in names) for values in found}


def assert_not_recoverable(
    found: list[dict[str, int]], published: dict[str, Count], *, total_known: bool = False
) -> None:
    """No masked count has one possible value, nor (unless the attack was given the total) the
    sum of what is not shown."""
    masked = [name for name, value in published.items() if value == MASK]
    assert masked, "nothing is masked: the scenario tests nothing"
    for name in masked:
        assert len(possible(found, name)) > 1, f"{name} can be worked out"
    if not total_known:
        hidden = [name for name, value in published.items() if value == MASK or value is None]
        assert len(possible(found, *hidden)) > 1, "the masked parts' sum can be worked out"


# --- the attack finds what the review found --------------------------------------------------


def test_the_attack_recovers_the_values_the_review_found_in_the_old_reports():
    """The figures as they used to be published: each masked count had one possible value."""
    invitations = {"sent": 12, "accepted": 10, "declined": MASK, "pending": 0, "expired": 0}
    found = solutions(
        {k: [v] for k, v in invitations.items() if k != "sent"},
        [(invitations["sent"], ["accepted", "declined", "pending", "expired"])],
    )
    assert possible(found, "declined") == {2}

    found = solutions(
        {"inactivity": [6], "misconduct": [MASK]}, [(7, ["inactivity", "misconduct"])]
    )
    assert possible(found, "misconduct") == {1}

    # Appeals: the share alone gives it away, even without the total.
    found = solutions(
        {"granted": [5], "upheld": [MASK]}, [], [(0.8333, "granted", ["granted", "upheld"])]
    )
    assert possible(found, "upheld") == {1}

    # Four "<5"s adding up to a "<5" total can only be four ones: a masked total is not enough.
    parts = {name: [MASK] for name in "abcd"}
    found = solutions(parts, [(MASK, list(parts))])
    assert all(possible(found, name) == {1} for name in parts)


# --- scenarios ---------------------------------------------------------------------------------


@pytest.fixture
def cohort(db) -> Cohort:
    return CohortFactory(name="Vega")


def invitations_attack(report: dict) -> tuple[list[dict[str, int]], dict[str, Count]]:
    published = {s.value: report["invitations"][s.value] for s in InvitationStatus}
    found = solutions(
        {k: [v] for k, v in published.items()}, [(report["invitations"]["sent"], list(published))]
    )
    return found, published


def test_declined_invitations_beside_accepted_ones_and_the_total(cohort):
    for _ in range(10):
        InvitationFactory(cohort=cohort, accepted=True)
    for _ in range(2):
        InvitationFactory(cohort=cohort, status="declined")

    report = build_report(cohort.id)

    assert report["invitations"] == {
        "sent": None, "pending": 0, "accepted": None, "declined": MASK, "expired": 0,
        "withdrawn": 0,
    }  # fmt: skip
    assert_not_recoverable(*invitations_attack(report))
    # Even a reader who learnt the total some other way could not tell: one more part is gone.
    published = {s.value: report["invitations"][s.value] for s in InvitationStatus}
    known_total = solutions({k: [v] for k, v in published.items()}, [(12, list(published))])
    assert_not_recoverable(known_total, published, total_known=True)
    program = build_report()["invitations"]
    assert (program["sent"], program["accepted"], program["declined"]) == (12, 10, 2)


def test_one_revocation_beside_six_of_another_category(cohort):
    for category in ["inactivity"] * 6 + ["misconduct"]:
        GrantFactory(
            membership=MembershipFactory(cohort=cohort), revoked=True, revoke_category=category
        )

    revocations = build_report(cohort.id)["revocations"]

    assert revocations["total"] is None
    assert revocations["by_category"] == {
        "misconduct": MASK, "inactivity": None, "artist_request": 0, "program_end": 0, "other": 0,
    }  # fmt: skip
    published = revocations["by_category"]
    found = solutions({k: [v] for k, v in published.items()}, [(None, list(published))])
    assert_not_recoverable(found, published)
    # Nor with the total learnt some other way.
    known_total = solutions({k: [v] for k, v in published.items()}, [(7, list(published))])
    assert_not_recoverable(known_total, published, total_known=True)
    assert build_report()["revocations"]["total"] == 7


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Two masked: the total goes, the 6 stays (the two "<5"s are already a sum of unknowns).
        ({"misconduct": 1, "other": 2, "inactivity": 6}, {"inactivity": 6}),
        # Four ones adding up to 4: a "<5" total would make each of them a 1.
        ({"misconduct": 1, "other": 1, "inactivity": 1, "artist_request": 1}, {}),
        # One non-zero part, masked: withholding the total is enough.
        ({"misconduct": 2}, {}),
    ],
)
def test_revocation_groups_with_masked_categories(cohort, counts, expected):
    for category, n in counts.items():
        for _ in range(n):
            GrantFactory(
                membership=MembershipFactory(cohort=cohort), revoked=True, revoke_category=category
            )

    revocations = build_report(cohort.id)["revocations"]

    published = revocations["by_category"]
    assert revocations["total"] is None
    assert {k: v for k, v in published.items() if v not in (0, MASK)} == expected
    assert {k for k, v in published.items() if v == MASK} == {k for k, n in counts.items() if n < 5}
    found = solutions({k: [v] for k, v in published.items()}, [(None, list(published))])
    assert_not_recoverable(found, published)


def test_one_upheld_appeal_beside_five_granted_ones_and_the_request_statuses(cohort):
    """The appeals' figures and the requests' statuses count the same requests: the attack
    uses both, and the share granted, together."""
    for outcome in ["granted"] * 5 + ["upheld"]:
        submission = SubmissionFactory(
            membership=MembershipFactory(cohort=cohort), status=f"appeal_{outcome}"
        )
        AppealFactory(submission=submission, outcome=outcome)

    report = build_report(cohort.id)

    appeals, requests = report["appeals"], report["requests"]
    assert appeals == {
        "filed": None, "pending": 0, "decided": None, "granted": None, "upheld": MASK,
        "share_granted": None,
    }  # fmt: skip
    assert requests["received"] is None
    assert requests["outcomes"]["appeal_upheld"] == MASK
    assert requests["outcomes"]["appeal_granted"] is None
    outcomes = requests["outcomes"]
    parts = {status: [outcomes[status]] for status in outcomes}
    parts["appealed"].append(appeals["pending"])
    parts["appeal_granted"].append(appeals["granted"])
    parts["appeal_upheld"].append(appeals["upheld"])
    found = solutions(
        parts,
        [
            (requests["received"], list(outcomes)),
            (appeals["filed"], ["appealed", "appeal_granted", "appeal_upheld"]),
            (appeals["decided"], ["appeal_granted", "appeal_upheld"]),
        ],
        [(appeals["share_granted"], "appeal_granted", ["appeal_granted", "appeal_upheld"])],
    )
    appeal_parts = {"appeal_upheld": appeals["upheld"], "appeal_granted": appeals["granted"]}
    assert_not_recoverable(found, appeal_parts)
    assert_not_recoverable(found, outcomes)
    program = build_report()["appeals"]
    assert (program["decided"], program["upheld"], program["share_granted"]) == (6, 1, 0.8333)


def test_request_outcomes_beside_the_number_received(cohort):
    for status, n in {"approved": 8, "withdrawn": 6, "rejected": 3}.items():
        for _ in range(n):
            SubmissionFactory(membership=MembershipFactory(cohort=cohort), status=status)

    requests = build_report(cohort.id)["requests"]

    outcomes = requests["outcomes"]
    assert requests["received"] is None
    # The smallest other non-zero status goes with the masked one.
    assert (outcomes["rejected"], outcomes["withdrawn"], outcomes["approved"]) == (MASK, None, 8)
    found = solutions({k: [v] for k, v in outcomes.items()}, [(None, list(outcomes))])
    assert_not_recoverable(found, outcomes)
    assert build_report()["requests"]["received"] == 17


def test_deemed_approvals_are_published_as_their_status_is(cohort):
    for status, n in {"approved": 7, "deemed_approved": 6, "rejected": 1}.items():
        for _ in range(n):
            SubmissionFactory(membership=MembershipFactory(cohort=cohort), status=status)

    requests = build_report(cohort.id)["requests"]

    assert requests["outcomes"]["deemed_approved"] is None  # the smallest beside the masked 1
    assert requests["deemed_approved"] is None
    assert build_report()["requests"]["deemed_approved"] == 6


def test_nothing_is_withheld_where_nothing_is_masked(cohort):
    for status in (InvitationStatus.ACCEPTED, InvitationStatus.DECLINED):
        for _ in range(5):
            InvitationFactory(cohort=cohort, status=status)

    invitations = build_report(cohort.id)["invitations"]

    assert (invitations["sent"], invitations["accepted"], invitations["declined"]) == (10, 5, 5)


# --- shares ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("members", "share"), [(6, None), (10, 0.5)])
def test_a_share_is_withheld_when_the_rest_is_from_1_to_4(cohort, members, share):
    """5 of 6 artists paid would say that exactly one was not."""
    memberships = [MembershipFactory(cohort=cohort) for _ in range(members)]
    for membership in memberships[:5]:
        PayoutFactory(artist=membership.user, paid=True)

    money = build_report(cohort.id)["money"]

    assert (money["artists_paid"], money["artists"]) == (5, members)
    assert money["share_of_artists_paid"] == share
    assert build_report()["money"]["share_of_artists_paid"] == round(5 / members, 4)


def test_the_share_granted_is_withheld_when_the_upheld_ones_are_masked(cohort):
    for outcome in ["granted"] * 5 + ["upheld"] * 2:
        AppealFactory(
            submission=SubmissionFactory(
                membership=MembershipFactory(cohort=cohort), status=f"appeal_{outcome}"
            ),
            outcome=outcome,
        )

    assert build_report(cohort.id)["appeals"]["share_granted"] is None
    assert Status.APPEAL_UPHELD.value in build_report(cohort.id)["requests"]["outcomes"]


# --- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize("artists", [1, 4, 5])
def test_money_paid_to_fewer_than_5_artists_is_withheld_in_a_cohort(cohort, artists):
    amounts = [1000 * (n + 1) for n in range(artists)]
    for amount in amounts:
        PayoutFactory(artist=MembershipFactory(cohort=cohort).user, paid=True, amount_minor=amount)

    paid = build_report(cohort.id)["money"]["paid"]

    if artists < 5:
        assert paid == [
            {"currency": "USD", "amount_minor": None, "median_per_paid_artist_minor": None}
        ]
    else:
        assert paid == [
            {"currency": "USD", "amount_minor": 15000, "median_per_paid_artist_minor": 3000}
        ]
    program = build_report()["money"]["paid"]
    assert program[0]["amount_minor"] == sum(amounts)  # program-wide: exact
    assert program[0]["median_per_paid_artist_minor"] is not None


def credit(cohort: Cohort, kind: str, amount: int, artist=None):
    artist = artist or MembershipFactory(cohort=cohort).user
    contribution = ContributionFactory(
        artist=artist, cohort_id=cohort.id, kind=kind, amount_minor=amount
    )
    return LedgerEntryFactory(contribution=contribution)


def credited(report: dict) -> dict[str, int | None]:
    return {
        row["kind"]: row["amount_minor"]
        for row in report["money"]["credited_by_kind"]
        if row["amount_minor"] != 0
    }


def test_a_kind_credited_to_one_artist_is_withheld_with_the_total_and_one_more_kind(cohort):
    for _ in range(5):
        credit(cohort, "feedback_session", 1000)
    for _ in range(6):
        credit(cohort, "stipend", 2000)
    credit(cohort, "bug_report", 700)

    report = build_report(cohort.id)

    # Without the total and the feedback sessions' 5,000, the bug report's 700 is unknown.
    assert credited(report) == {"feedback_session": None, "stipend": 12000, "bug_report": None}
    assert report["money"]["credited_total"] == [{"currency": "USD", "amount_minor": None}]
    program = build_report()
    assert credited(program) == {"feedback_session": 5000, "stipend": 12000, "bug_report": 700}
    assert program["money"]["credited_total"] == [{"currency": "USD", "amount_minor": 17700}]


def test_two_kinds_on_few_artists_are_withheld_with_the_total_only(cohort):
    credit(cohort, "bug_report", 700)
    for _ in range(2):
        credit(cohort, "feedback_session", 1000)
    for _ in range(6):
        credit(cohort, "stipend", 2000)

    report = build_report(cohort.id)

    assert credited(report) == {"bug_report": None, "feedback_session": None, "stipend": 12000}
    assert report["money"]["credited_total"] == [{"currency": "USD", "amount_minor": None}]


def test_artists_whose_credits_were_corrected_away_do_not_count(cohort):
    """Five artists were credited for a bug report, four of them corrected to nothing: the
    amount is one artist's."""
    entries = [credit(cohort, "bug_report", 3000) for _ in range(5)]
    for entry in entries[1:]:
        LedgerEntryFactory(
            contribution=None,
            contribution_id=None,
            artist_id=entry.artist_id,
            kind="correction",
            amount_minor=-3000,
            currency="USD",
            reverses_entry_id=entry.id,
        )

    report = build_report(cohort.id)

    assert credited(report) == {"bug_report": None}
    assert report["money"]["credited_total"] == [{"currency": "USD", "amount_minor": None}]
    assert credited(build_report()) == {"bug_report": 3000}


def test_kinds_credited_to_5_artists_or_more_are_shown(cohort):
    for _ in range(5):
        credit(cohort, "feedback_session", 1000)

    report = build_report(cohort.id)

    assert credited(report) == {"feedback_session": 5000}
    assert report["money"]["credited_total"] == [{"currency": "USD", "amount_minor": 5000}]

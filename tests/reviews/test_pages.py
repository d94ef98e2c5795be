"""Pages: an artist's requests (submit, list, detail, revise, withdraw, appeal) and the staff
review queue and decisions (claim, decide, confirm or overturn a proposed rejection, appeals)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import sqlalchemy as sa

from access_program.accounts.models import User
from access_program.db import db as _db
from access_program.db import utcnow
from access_program.reviews import service
from access_program.reviews.models import Decision, Status, Submission
from tests.factories import (
    CohortFactory,
    MembershipFactory,
    SubmissionFactory,
    UserFactory,
)
from tests.helpers import audit_count

pytestmark = pytest.mark.usefixtures("fresh_user_per_request")

REASON = "Frame 3 shows the unreleased timeline feature."
P2_TEXT = "Do not show unreleased features."
REQUEST_FORM = {
    "title": "Night swim",
    "description": "Three minutes of a lake at night.",
    "output_ref": "gen://outputs/123",
    "output_sha256": "",
    "intended_use": "festival",
    "venue": "Berlinale Shorts",
    "planned_date": "2031-02-14",
}


def signed_in(pages, user: User):
    """Commit the preconditions first: a refused request rolls the session back to here."""
    _db.session.commit()
    return pages.login(user)


def text(response) -> str:
    """The page's visible text, whitespace collapsed, entities decoded."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def main_text(response) -> str:
    body = response.get_data(as_text=True)
    match = re.search(r"<main[^>]*>(.*)</main>", body, flags=re.S)
    assert match, body[:500]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def reload(submission: Submission) -> Submission:
    _db.session.expire_all()
    return _db.session.get(Submission, submission.id)


def claimed_by(reviewer: User, **kwargs) -> Submission:
    return SubmissionFactory(claimed_by=reviewer, **kwargs)


def proposed_rejection(proposer: User, **kwargs) -> Submission:
    """In review, with a rejection citing P2 proposed by ``proposer`` (two-person rule on)."""
    submission = claimed_by(proposer, **kwargs)
    service.decide_request(proposer, submission, outcome="rejected", reason=REASON, clauses=["P2"])
    return submission


def appealed(proposer: User, confirmer: User, **kwargs) -> Submission:
    submission = proposed_rejection(proposer, **kwargs)
    service.confirm_rejection(confirmer, submission, "Agreed.")
    service.appeal_request(
        submission.artist, submission, "The timeline is public since the March release."
    )
    return submission


# --- who may see what ----------------------------------------------------------------------

ARTIST_PAGES = [
    "/requests",
    "/requests?page=2",
    "/requests/new",
    "/requests/{id}",
    "/requests/{id}/withdraw",
]
STAFF_PAGES = [
    "/staff/review-queue",
    "/staff/review-queue?cohort_id={cohort}&intended_use=festival&status=submitted&page=1",
    "/staff/review-queue?cohort_id=nope&intended_use=spam&status=approved&page=-3",
    "/staff/requests/{id}",
]


def _fill(path: str, submission: Submission) -> str:
    return path.format(id=submission.id, cohort=submission.cohort_id)


@pytest.mark.parametrize("path", ARTIST_PAGES)
def test_artist_pages_render_for_the_artist(db, pages, path):
    submission = SubmissionFactory()
    signed_in(pages, submission.artist)
    assert pages.get(_fill(path, submission)).status_code == 200


@pytest.mark.parametrize("path", ARTIST_PAGES)
@pytest.mark.parametrize("role", ["staff", "admin"])
def test_artist_pages_are_403_for_staff(db, pages, path, role):
    submission = SubmissionFactory()
    signed_in(pages, UserFactory(**{role: True}))
    response = pages.get(_fill(path, submission))
    assert response.status_code == 403
    assert "review queue" in main_text(response)


@pytest.mark.parametrize("path", ARTIST_PAGES + STAFF_PAGES)
def test_pages_send_anonymous_visitors_to_sign_in(db, client, path):
    submission = SubmissionFactory()
    _db.session.commit()
    response = client.get(_fill(path, submission))
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("path", STAFF_PAGES)
@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_pages_render_for_staff_and_admins(db, pages, path, role):
    submission = SubmissionFactory()
    signed_in(pages, UserFactory(**{role: True}))
    assert pages.get(_fill(path, submission)).status_code == 200


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_are_403_for_artists(db, pages, path):
    submission = SubmissionFactory()
    signed_in(pages, submission.artist)
    assert pages.get(_fill(path, submission)).status_code == 403


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/requests/{id}"),
        ("get", "/requests/{id}/withdraw"),
        ("post", "/requests/{id}/withdraw"),
        ("post", "/requests/{id}/revise"),
        ("post", "/requests/{id}/appeal"),
    ],
)
def test_another_artists_request_is_404(db, pages, method, path):
    submission = SubmissionFactory()
    signed_in(pages, MembershipFactory().user)
    response = getattr(pages, method)(_fill(path, submission))
    assert response.status_code == 404
    assert submission.title not in text(response)
    assert reload(submission).status == Status.SUBMITTED


def test_unknown_request_is_404(db, pages):
    signed_in(pages, UserFactory(staff=True))
    assert pages.get("/staff/requests/999999").status_code == 404


@pytest.mark.parametrize(
    "path", ["/requests/new", "/staff/requests/{id}/claim", "/requests/{id}/withdraw"]
)
def test_a_post_without_csrf_token_is_400_and_changes_nothing(db, pages, path):
    submission = SubmissionFactory()
    user = submission.artist if path.startswith("/requests") else UserFactory(staff=True)
    signed_in(pages, user)
    before = audit_count()
    response = pages.client.post(_fill(path, submission), data=REQUEST_FORM)
    assert response.status_code == 400
    assert audit_count() == before
    assert reload(submission).status == Status.SUBMITTED


# --- artist: submit and list ---------------------------------------------------------------


def test_submitting_the_form_creates_the_request_and_flashes(db, pages):
    member = MembershipFactory()
    signed_in(pages, member.user)
    response = pages.post(
        "/requests/new", {**REQUEST_FORM, "output_sha256": "AB" * 32}, follow_redirects=True
    )
    assert response.status_code == 200
    page = main_text(response)
    assert "Request “Night swim” submitted. The review deadline is" in page
    submission = _db.session.scalars(
        sa.select(Submission).where(Submission.artist_id == member.user_id)
    ).one()
    assert submission.status == Status.SUBMITTED
    assert submission.venue == "Berlinale Shorts"
    assert submission.planned_date == dt.date(2031, 2, 14)
    assert submission.output_sha256 == "ab" * 32
    assert audit_count("submission.submitted") == 1
    assert response.request.path == f"/requests/{submission.id}"
    assert "due in 2 days" in page  # the cohort's 72 review hours


def test_validation_errors_re_render_the_form_with_the_values_kept(db, pages):
    signed_in(pages, MembershipFactory().user)
    response = pages.post(
        "/requests/new",
        {
            **REQUEST_FORM,
            "title": "",
            "output_sha256": "not-a-hash",
            "planned_date": "next tuesday",
            "intended_use": "",
        },
    )
    assert response.status_code == 422
    page = main_text(response)
    assert "There is a problem" in page
    for message in (
        "Give the output a title.",
        "A SHA-256 is 64 hexadecimal characters.",
        "Not a valid date value.",
        "Choose how you intend to use the output.",
    ):
        assert page.count(message) == 2  # in the summary and next to the field
    body = response.get_data(as_text=True)
    assert 'value="gen://outputs/123"' in body
    assert 'value="Berlinale Shorts"' in body
    assert 'value="not-a-hash"' in body
    assert "Three minutes of a lake at night." in body
    assert _db.session.scalar(sa.select(sa.func.count(Submission.id))) == 0


def test_an_unknown_intended_use_is_a_field_error(db, pages):
    signed_in(pages, MembershipFactory().user)
    response = pages.post("/requests/new", {**REQUEST_FORM, "intended_use": "billboard"})
    assert response.status_code == 422
    assert "Not a valid choice" in main_text(response)


def test_an_artist_without_an_active_membership_is_told_why_they_cannot_submit(db, pages):
    artist = MembershipFactory(ended=True).user
    signed_in(pages, artist)
    page = main_text(pages.get("/requests/new"))
    assert "Only active members of a cohort can ask to share outputs." in page
    assert 'name="title"' not in pages.get("/requests/new").get_data(as_text=True)
    response = pages.post("/requests/new", REQUEST_FORM)
    assert response.status_code == 409
    assert "Only active members can ask to share outputs." in main_text(response)
    assert _db.session.scalar(sa.select(sa.func.count(Submission.id))) == 0


def test_the_empty_list_says_what_to_do(db, pages):
    signed_in(pages, MembershipFactory().user)
    page = main_text(pages.get("/requests"))
    assert "No requests yet — submit an output to share it" in page


def test_the_list_shows_only_the_artists_requests_with_status_and_time_left(db, pages):
    member = MembershipFactory()
    SubmissionFactory(membership=member, title="Fresh one", intended_use="press")
    SubmissionFactory(membership=member, title="Late one", overdue=True)
    SubmissionFactory(title="Someone else's")
    signed_in(pages, member.user)
    page = main_text(pages.get("/requests"))
    assert "Fresh one" in page and "Late one" in page
    assert "Someone else's" not in page
    assert "Press" in page
    assert "submitted" in page
    assert "due in 2 days" in page
    assert re.search(r"27 days overdue", page)


def test_the_list_is_paginated(db, pages):
    member = MembershipFactory()
    now = utcnow()
    for i in range(27):
        SubmissionFactory(
            membership=member, title=f"Item {i:02d}", submitted_at=now - dt.timedelta(minutes=i)
        )
    signed_in(pages, member.user)
    first = main_text(pages.get("/requests"))
    second = main_text(pages.get("/requests?page=2"))
    assert "Item 00" in first and "Item 24" in first and "Item 25" not in first
    assert "Item 25" in second and "Item 26" in second and "Item 00" not in second
    assert "Page 2 of 2" in second


# --- artist: detail, revise, withdraw, appeal ----------------------------------------------


def test_changes_requested_shows_the_reason_and_a_prefilled_revise_form(db, pages):
    reviewer = UserFactory(staff=True)
    submission = claimed_by(reviewer, title="Blue hour")
    service.decide_request(
        reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P2"]
    )
    signed_in(pages, submission.artist)
    response = pages.get(f"/requests/{submission.id}")
    page = main_text(response)
    assert "The reviewer asked for changes." in page
    assert REASON in page and P2_TEXT in page
    assert "Revise and resubmit" in page
    assert 'value="Blue hour"' in response.get_data(as_text=True)
    assert "Withdraw the request" in page

    response = pages.post(
        f"/requests/{submission.id}/revise",
        {**REQUEST_FORM, "title": "Blue hour (cut)"},
        follow_redirects=True,
    )
    assert "Revision 2 submitted." in main_text(response)
    submission = reload(submission)
    assert (submission.status, submission.revision) == (Status.SUBMITTED, 2)
    assert submission.title == "Blue hour (cut)"


def test_a_bad_revision_keeps_the_values_and_changes_nothing(db, pages):
    reviewer = UserFactory(staff=True)
    submission = claimed_by(reviewer)
    service.decide_request(
        reviewer, submission, outcome="changes_requested", reason=REASON, clauses=["P2"]
    )
    signed_in(pages, submission.artist)
    response = pages.post(
        f"/requests/{submission.id}/revise",
        {**REQUEST_FORM, "output_ref": "", "venue": "A new venue"},
    )
    assert response.status_code == 422
    assert "Give the output's id or URL in the tool." in main_text(response)
    assert 'value="A new venue"' in response.get_data(as_text=True)
    assert reload(submission).status == Status.CHANGES_REQUESTED


def test_revising_a_request_that_waits_on_nobody_is_refused_with_a_message(db, pages):
    submission = SubmissionFactory()
    signed_in(pages, submission.artist)
    response = pages.post(f"/requests/{submission.id}/revise", REQUEST_FORM)
    assert response.status_code == 409
    assert "only a request waiting on your changes can be revised" in main_text(response)
    assert reload(submission).revision == 1


def test_withdrawing_takes_a_confirmation_step(db, pages):
    submission = SubmissionFactory(title="Second thoughts")
    signed_in(pages, submission.artist)
    confirm = pages.get(f"/requests/{submission.id}/withdraw")
    assert "Withdraw “Second thoughts”?" in main_text(confirm)
    assert reload(submission).status == Status.SUBMITTED  # nothing changes on GET

    response = pages.post(f"/requests/{submission.id}/withdraw", follow_redirects=True)
    page = main_text(response)
    assert "Request “Second thoughts” withdrawn." in page
    assert "You withdrew this request." in page
    assert reload(submission).status == Status.WITHDRAWN
    assert audit_count("submission.withdrawn") == 1

    again = pages.get(f"/requests/{submission.id}/withdraw", follow_redirects=True)
    assert "it can no longer be withdrawn" in main_text(again)
    refused = pages.post(f"/requests/{submission.id}/withdraw")
    assert refused.status_code == 409
    assert "Not withdrawn: The request is withdrawn" in main_text(refused)


def test_a_rejected_request_offers_the_appeal_until_its_deadline(db, pages):
    submission = proposed_rejection(UserFactory(staff=True, name="Pia Proposer"))
    service.confirm_rejection(UserFactory(staff=True, name="Cleo Confirm"), submission, "Agreed.")
    signed_in(pages, submission.artist)
    page = main_text(pages.get(f"/requests/{submission.id}"))
    deadline = service.appeal_deadline(submission)
    assert "Not approved." in page
    assert "Rejected by Pia Proposer" in page
    assert "Confirmed by Cleo Confirm" in page and "“Agreed.”" in page
    assert REASON in page and P2_TEXT in page
    assert f"You may appeal once, until {deadline.day} " in page
    assert "Appeal the rejection" in page
    assert "Withdraw the request" not in page

    short = pages.post(f"/requests/{submission.id}/appeal", {"statement": "Please."})
    assert short.status_code == 422
    assert "Explain your appeal in at least 20 characters." in main_text(short)
    assert "Please." in short.get_data(as_text=True)

    statement = "The timeline is public since the March release."
    response = pages.post(
        f"/requests/{submission.id}/appeal", {"statement": statement}, follow_redirects=True
    )
    page = main_text(response)
    assert "Appeal sent." in page
    assert "You appealed" in page and statement in page
    assert reload(submission).status == Status.APPEALED

    second = pages.post(f"/requests/{submission.id}/appeal", {"statement": statement})
    assert second.status_code == 409
    assert "a request gets one appeal" in main_text(second)


def test_an_appeal_after_the_window_is_refused_with_the_date(db, pages):
    submission = proposed_rejection(UserFactory(staff=True))
    service.confirm_rejection(UserFactory(staff=True), submission)
    decision = service.final_rejection(submission)
    decision.confirmed_at = decision.decided_at = utcnow() - dt.timedelta(days=15)
    signed_in(pages, submission.artist)
    page = main_text(pages.get(f"/requests/{submission.id}"))
    assert "The appeal window closed on" in page
    assert "Appeal the rejection" not in page
    response = pages.post(
        f"/requests/{submission.id}/appeal",
        {"statement": "The timeline is public since the March release."},
    )
    assert response.status_code == 409
    assert "The appeal window closed on" in main_text(response)
    assert reload(submission).status == Status.REJECTED


# --- staff: the queue ----------------------------------------------------------------------


def test_the_queue_lists_soonest_deadline_first_with_flags(db, pages):
    staff, other = UserFactory(staff=True, name="Sam Staff"), UserFactory(staff=True)
    late = SubmissionFactory(title="Late one", overdue=True)
    fresh = SubmissionFactory(title="Fresh one")
    escalated = SubmissionFactory(title="Escalated one", overdue=True)
    escalated.escalated_at = utcnow()
    proposed = proposed_rejection(other, title="Proposed one")
    appeal = appealed(other, UserFactory(staff=True), title="Appealed one")
    done = SubmissionFactory(title="Withdrawn one")
    service.withdraw_request(done.artist, done)
    signed_in(pages, staff)
    page = main_text(pages.get("/staff/review-queue"))
    order = [page.index(t) for t in ("Late one", "Escalated one", "Fresh one", "Proposed one")]
    assert order == sorted(order)
    assert "Withdrawn one" not in page
    assert "Appealed one" in page and "Appeal: decide it" in page
    assert page.count("overdue") >= 4  # two tags and two "… overdue" times
    assert "27 days overdue" in page
    assert "escalated" in page
    assert "rejection proposed needs a second reviewer" in page
    assert proposed.title in page and appeal.title in page
    assert fresh.artist.name in page and late.cohort.name in page


def test_the_queue_filters_by_cohort_use_and_state(db, pages):
    cohort = CohortFactory(name="Winter")
    mine = SubmissionFactory(
        membership=MembershipFactory(cohort=cohort), title="Winter press", intended_use="press"
    )
    SubmissionFactory(membership=MembershipFactory(cohort=cohort), title="Winter festival")
    SubmissionFactory(title="Elsewhere press", intended_use="press")
    claimed_by(UserFactory(staff=True), membership=MembershipFactory(cohort=cohort), title="Took")
    signed_in(pages, UserFactory(staff=True))
    page = main_text(pages.get(f"/staff/review-queue?cohort_id={cohort.id}&intended_use=press"))
    assert "Winter press" in page
    assert "Winter festival" not in page and "Elsewhere press" not in page
    page = main_text(pages.get(f"/staff/review-queue?cohort_id={cohort.id}&status=in_review"))
    assert "Took" in page and mine.title not in page
    empty = main_text(pages.get("/staff/review-queue?intended_use=commercial"))
    assert "No request in the queue matches these filters." in empty


def test_the_queue_is_paginated_50_per_page(db, pages):
    member = MembershipFactory()
    now = utcnow()
    for i in range(51):
        SubmissionFactory(
            membership=member, title=f"Item {i:02d}", submitted_at=now + dt.timedelta(minutes=i)
        )
    signed_in(pages, UserFactory(staff=True))
    first = main_text(pages.get("/staff/review-queue"))
    assert "Item 49" in first and "Item 50" not in first
    assert "Item 50" in main_text(pages.get("/staff/review-queue?page=2"))


def _statements_for(db, pages, url: str) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    _db.session.commit()
    _db.session.expunge_all()
    sa.event.listen(_db.engine, "before_cursor_execute", count)
    try:
        response = pages.get(url)
    finally:
        sa.event.remove(_db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen)


QUEUE_KINDS = ("open", "proposed", "appealed", "overdue", "claimed", "open")


def _queue_of(n: int, reviewers: list[User]) -> None:
    """``n`` queued requests by different artists in three cohorts, in every queue state."""
    cohorts = [CohortFactory() for _ in range(3)]
    for i in range(n):
        membership = MembershipFactory(cohort=cohorts[i % 3])
        kind = QUEUE_KINDS[i % len(QUEUE_KINDS)]
        if kind in ("open", "overdue"):
            SubmissionFactory(membership=membership, overdue=kind == "overdue")
        elif kind == "claimed":
            claimed_by(reviewers[i % 2], membership=membership)
        elif kind == "proposed":
            proposed_rejection(reviewers[i % 2], membership=membership)
        else:
            appealed(reviewers[0], reviewers[1], membership=membership)


def test_the_queue_runs_the_same_number_of_statements_for_3_and_60_requests(db, pages):
    reviewers = [UserFactory(staff=True), UserFactory(staff=True)]
    reviewer_ids = [r.id for r in reviewers]
    viewer = UserFactory(staff=True)
    _queue_of(3, reviewers)
    signed_in(pages, viewer)
    pages.get("/staff/review-queue")  # warm-up
    few = _statements_for(db, pages, "/staff/review-queue")
    reviewers = [_db.session.get(User, i) for i in reviewer_ids]
    _queue_of(57, reviewers)
    many = _statements_for(db, pages, "/staff/review-queue")
    assert many == few
    assert _db.session.scalar(sa.select(sa.func.count(Submission.id))) == 60


# --- staff: one request --------------------------------------------------------------------


def test_claiming_then_approving_with_allowed_uses(db, pages):
    staff = UserFactory(staff=True)
    submission = SubmissionFactory(title="Lake")
    signed_in(pages, staff)
    page = main_text(pages.get(f"/staff/requests/{submission.id}"))
    assert "Claim it to review" in page and "Record the decision" not in page

    response = pages.post(f"/staff/requests/{submission.id}/claim", follow_redirects=True)
    page = main_text(response)
    assert "You are reviewing “Lake”." in page
    assert "Claimed by you" in page and "Record the decision" in page
    assert "At least 20 characters; the artist reads it." in page
    assert "P2 No confidential features" in page and P2_TEXT in page

    response = pages.post(
        f"/staff/requests/{submission.id}/decide",
        {"outcome": "approved", "allowed_uses": ["festival", "portfolio"]},
        follow_redirects=True,
    )
    assert "Request “Lake” approved. The artist is emailed." in main_text(response)
    submission = reload(submission)
    assert submission.status == Status.APPROVED
    assert submission.allowed_uses == ["festival", "portfolio"]


def test_an_incomplete_decision_is_shown_next_to_the_fields(db, pages):
    staff = UserFactory(staff=True)
    submission = claimed_by(staff)
    signed_in(pages, staff)
    response = pages.post(
        f"/staff/requests/{submission.id}/decide", {"outcome": "rejected", "reason": "No."}
    )
    assert response.status_code == 422
    page = main_text(response)
    assert "There is a problem" in page
    assert page.count("Give the reason in at least 20 characters.") == 2
    assert page.count("Cite at least one clause of the content policy.") == 2
    body = response.get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="rejected"', body)
    assert re.search(r">\s*No\.</textarea>", body)
    assert reload(submission).status == Status.IN_REVIEW

    response = pages.post(f"/staff/requests/{submission.id}/decide", {"reason": REASON})
    assert response.status_code == 422
    assert "Choose an outcome." in main_text(response)

    response = pages.post(
        f"/staff/requests/{submission.id}/decide",
        {"outcome": "changes_requested", "reason": REASON, "clauses": ["P9"]},
    )
    assert response.status_code == 422
    assert "Unknown clause P9" in main_text(response)
    assert 'value="P9"' not in response.get_data(as_text=True)


def test_deciding_a_request_someone_else_claimed_is_a_flash_not_an_error_page(db, pages):
    submission = claimed_by(UserFactory(staff=True, name="Rita Reviewer"))
    signed_in(pages, UserFactory(staff=True))
    page = main_text(pages.get(f"/staff/requests/{submission.id}"))
    assert "Rita Reviewer is reviewing this request" in page
    assert "Record the decision" not in page
    response = pages.post(
        f"/staff/requests/{submission.id}/decide", {"outcome": "approved", "reason": ""}
    )
    assert response.status_code == 409
    assert "Rita Reviewer is reviewing this request (in review); only they can decide it." in (
        main_text(response)
    )
    claim = pages.post(f"/staff/requests/{submission.id}/claim")
    assert claim.status_code == 409
    assert "Not claimed: Rita Reviewer is already reviewing" in main_text(claim)
    assert reload(submission).status == Status.IN_REVIEW


def test_the_proposer_cannot_confirm_their_own_rejection(db, pages):
    proposer = UserFactory(staff=True)
    submission = proposed_rejection(proposer)
    signed_in(pages, proposer)
    page = main_text(pages.get(f"/staff/requests/{submission.id}"))
    assert "You proposed this rejection." in page
    assert "Confirm the rejection" not in page
    response = pages.post(f"/staff/requests/{submission.id}/confirm-rejection", {"note": ""})
    assert response.status_code == 403
    assert "A second staff member must confirm your proposed rejection." in main_text(response)
    assert reload(submission).status == Status.IN_REVIEW


def test_a_second_reviewer_may_overturn_a_proposed_rejection(db, pages):
    submission = proposed_rejection(UserFactory(staff=True), title="Close call")
    signed_in(pages, UserFactory(staff=True))
    response = pages.get(f"/staff/requests/{submission.id}")
    page = main_text(response)
    assert "A rejection waits for a second reviewer" in page
    assert REASON in page and P2_TEXT in page
    assert "Or decide otherwise" in page
    assert 'value="rejected"' not in response.get_data(as_text=True)
    response = pages.post(
        f"/staff/requests/{submission.id}/decide",
        {"outcome": "approved", "allowed_uses": ["festival"]},
        follow_redirects=True,
    )
    assert "The proposed rejection is overturned." in main_text(response)
    assert reload(submission).status == Status.APPROVED


def test_a_rejection_participant_is_told_who_must_decide_the_appeal(db, pages):
    proposer = UserFactory(staff=True, name="Pat Proposer")
    confirmer = UserFactory(staff=True, name="Cole Confirmer")
    submission = appealed(proposer, confirmer)
    signed_in(pages, confirmer)
    page = main_text(pages.get(f"/staff/requests/{submission.id}"))
    assert "The timeline is public since the March release." in page
    assert "A staff member other than Cole Confirmer and Pat Proposer must decide it." in page
    assert "Decide the appeal" not in page
    response = pages.post(
        f"/staff/requests/{submission.id}/appeal-decision",
        {"outcome": "granted", "reason": "The feature was public by then."},
    )
    assert response.status_code == 403
    assert "You took part in the rejection" in main_text(response)
    assert reload(submission).status == Status.APPEALED


def test_an_incomplete_appeal_decision_is_shown_next_to_the_fields(db, pages):
    submission = appealed(UserFactory(staff=True), UserFactory(staff=True))
    signed_in(pages, UserFactory(staff=True))
    response = pages.post(
        f"/staff/requests/{submission.id}/appeal-decision", {"outcome": "upheld", "reason": "No"}
    )
    assert response.status_code == 422
    page = main_text(response)
    assert page.count("Give the reason in at least 20 characters.") == 2
    assert reload(submission).status == Status.APPEALED


def test_nothing_changes_on_get(db, pages):
    staff = UserFactory(staff=True)
    submission = SubmissionFactory()
    signed_in(pages, staff)
    before = audit_count()
    for path in ("claim", "decide", "confirm-rejection", "appeal-decision"):
        assert pages.get(f"/staff/requests/{submission.id}/{path}").status_code == 405
    assert audit_count() == before


# --- the whole journey ---------------------------------------------------------------------


def test_reject_confirm_appeal_grant_journey_ends_approved_with_the_whole_history(db, pages):
    artist = MembershipFactory(user=UserFactory(name="Ari Artist")).user
    alice = UserFactory(staff=True, name="Alice Reviewer")
    bob = UserFactory(staff=True, name="Bob Second")
    carol = UserFactory(staff=True, name="Carol Appeals")

    signed_in(pages, artist)
    pages.post("/requests/new", REQUEST_FORM)
    submission = _db.session.scalars(sa.select(Submission)).one()
    url = f"/staff/requests/{submission.id}"

    pages.login(alice)
    assert pages.post(f"{url}/claim").status_code == 302
    response = pages.post(
        f"{url}/decide", {"outcome": "rejected", "reason": REASON, "clauses": ["P2"]}
    )
    assert response.status_code == 302

    pages.login(bob)
    assert "rejection proposed" in main_text(pages.get("/staff/review-queue"))
    response = pages.post(f"{url}/confirm-rejection", {"note": "Agreed."}, follow_redirects=True)
    assert "Rejection of “Night swim” confirmed." in main_text(response)

    pages.login(artist)
    statement = "The timeline feature is public since the March release."
    response = pages.post(f"/requests/{submission.id}/appeal", {"statement": statement})
    assert response.status_code == 302

    pages.login(alice)
    assert "must decide it" in main_text(pages.get(url))

    pages.login(carol)
    assert "Decide the appeal" in main_text(pages.get(url))
    response = pages.post(
        f"{url}/appeal-decision",
        {"outcome": "granted", "reason": "The feature was announced publicly in March."},
        follow_redirects=True,
    )
    assert "Appeal granted: “Night swim” is approved." in main_text(response)

    pages.login(artist)
    page = main_text(pages.get(f"/requests/{submission.id}"))
    assert "Approved. You may share this output for: Festival." in page
    assert "appeal granted" in page
    history = page[page.index("History") :]
    steps = [
        f"Submitted by {artist.name}",
        f"Claimed for review by {alice.name}",
        f"Rejection proposed (waits for a second reviewer) by {alice.name}",
        f"Decided: rejected by {bob.name}",
        f"Appealed by {artist.name}",
        f"Appeal granted by {carol.name}",
    ]
    positions = [history.index(step) for step in steps]
    assert positions == sorted(positions)
    assert REASON in history and P2_TEXT in history and "P2 No confidential features" in history
    assert statement in history
    assert "The feature was announced publicly in March." in history
    assert _db.session.scalar(sa.select(sa.func.count(Decision.id))) == 1

"""Cohorts, terms, invitations and memberships through the service (SPEC §3.2–3.4)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.access.models import Grant
from access_program.access.service import decide_access
from access_program.accounts.models import User
from access_program.cohorts import service
from access_program.cohorts.models import (
    Invitation,
    Membership,
    PolicyClause,
    TermsAcceptance,
)
from access_program.db import utcnow
from access_program.errors import Conflict, Gone, InvalidTransition, NotFound, ValidationError
from access_program.outbox.models import OutboxMessage
from tests.cohorts import events_since, last_event, terms_body
from tests.factories import (
    PASSWORD,
    CohortFactory,
    GrantFactory,
    InvitationFactory,
    MembershipFactory,
    TermsFactory,
    UserFactory,
)
from tests.helpers import audit_count, audit_head_seq

NEW_PASSWORD = "a long enough password"

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture
def admin(db):
    return UserFactory(admin=True)


def reason_codes(user_id: int) -> list[str]:
    return [r["code"] for r in decide_access(artist_id=user_id).reasons]


def outbox_to(email: str, kind: str) -> list[OutboxMessage]:
    from access_program.db import db

    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(
                OutboxMessage.to_email == email, OutboxMessage.kind == kind
            )
        )
    )


# --- cohorts -------------------------------------------------------------------------------


def test_create_cohort_starts_as_draft_with_defaults_and_one_event(admin):
    seq = audit_head_seq()
    cohort = service.create_cohort(admin.actor, name="  Spring  ")
    assert (cohort.name, cohort.status, cohort.capacity) == ("Spring", "draft", 300)
    assert (cohort.review_hours, cohort.on_deadline, cohort.auto_grant) == (
        72,
        "deemed_approved",
        True,
    )
    assert events_since(seq) == [("cohort.created", None)]
    assert last_event("cohort.created").data["name"] == "Spring"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"name": "   "}, "name"),
        ({"name": "C", "capacity": 0}, "capacity"),
        ({"name": "C", "review_hours": -1}, "review_hours"),
        ({"name": "C", "on_deadline": "shrug"}, "on_deadline"),
        (
            {"name": "C", "starts_on": dt.date(2025, 5, 1), "ends_on": dt.date(2025, 4, 1)},
            "ends_on",
        ),
    ],
)
def test_create_cohort_refuses_bad_settings_field_by_field(admin, fields, field):
    seq = audit_head_seq()
    with pytest.raises(ValidationError) as exc:
        service.create_cohort(admin.actor, **fields)
    assert list(exc.value.details) == [field]
    assert events_since(seq) == []


def test_cohort_names_are_unique_whatever_the_case(admin):
    CohortFactory(name="Spring")
    with pytest.raises(Conflict, match="already exists"):
        service.create_cohort(admin.actor, name="spring")


def test_create_cohort_needs_published_terms(admin):
    draft = TermsFactory(draft=True)
    with pytest.raises(Conflict, match="draft; publish them first"):
        service.create_cohort(admin.actor, name="C", terms_id=draft.id)
    with pytest.raises(ValidationError) as exc:
        service.create_cohort(admin.actor, name="C", terms_id=999_999)
    assert "terms_id" in exc.value.details


def test_update_cohort_records_what_changed(admin):
    cohort = CohortFactory(capacity=10, review_hours=72)
    seq = audit_head_seq()
    service.update_cohort(admin.actor, cohort, capacity=20, review_hours=72, on_deadline="escalate")
    assert (cohort.capacity, cohort.on_deadline) == (20, "escalate")
    assert events_since(seq) == [("cohort.updated", None)]
    assert last_event("cohort.updated").data == {
        "capacity": {"from": 10, "to": 20},
        "on_deadline": {"from": "deemed_approved", "to": "escalate"},
    }


def test_update_cohort_without_changes_writes_nothing(admin):
    cohort = CohortFactory(capacity=10)
    seq = audit_head_seq()
    service.update_cohort(admin.actor, cohort, capacity=10)
    assert events_since(seq) == []


def test_capacity_cannot_drop_below_the_seats_taken(admin):
    cohort = CohortFactory(capacity=5)
    MembershipFactory(cohort=cohort)
    InvitationFactory(cohort=cohort)
    InvitationFactory(cohort=cohort, expired=True)  # holds no seat
    with pytest.raises(Conflict, match="below the 2 seats already taken"):
        service.update_cohort(admin.actor, cohort, capacity=1)
    service.update_cohort(admin.actor, cohort, capacity=2)
    assert cohort.capacity == 2


def test_update_checks_dates_against_the_stored_ones(admin):
    cohort = CohortFactory(starts_on=dt.date(2025, 5, 1))
    with pytest.raises(ValidationError) as exc:
        service.update_cohort(admin.actor, cohort, ends_on=dt.date(2025, 4, 1))
    assert "ends_on" in exc.value.details


def test_open_needs_terms_and_happens_once(admin):
    bare = CohortFactory(draft=True, terms=None)
    with pytest.raises(Conflict, match="published terms"):
        service.open_cohort(admin.actor, bare)
    cohort = CohortFactory(draft=True)
    seq = audit_head_seq()
    service.open_cohort(admin.actor, cohort)
    assert cohort.status == "open"
    assert events_since(seq) == [("cohort.opened", None)]
    with pytest.raises(InvalidTransition, match="is open; it cannot become open"):
        service.open_cohort(admin.actor, cohort)


def test_closing_a_cohort_withdraws_invitations_revokes_grants_and_ends_memberships(admin):
    cohort = CohortFactory()
    grant = GrantFactory(membership=MembershipFactory(cohort=cohort))
    member = grant.membership.user
    no_grant = MembershipFactory(cohort=cohort)
    pending = InvitationFactory(cohort=cohort)
    accepted = InvitationFactory(cohort=cohort, accepted=True)
    seq = audit_head_seq()

    service.close_cohort(admin.actor, cohort)

    assert cohort.status == "closed" and cohort.closed_at is not None
    assert (pending.status, accepted.status) == ("withdrawn", "accepted")
    assert grant.revoked_at is not None and grant.revoke_category == "program_end"
    assert {grant.membership.status, no_grant.status} == {"ended"}
    assert reason_codes(member.id) == ["no_active_membership"]
    assert sorted(events_since(seq), key=str) == sorted(
        [
            ("cohort.closed", None),
            ("invitation.withdrawn", None),
            ("grant.revoked", member.id),
            ("membership.ended", member.id),
            ("membership.ended", no_grant.user_id),
        ],
        key=str,
    )
    with pytest.raises(InvalidTransition):
        service.close_cohort(admin.actor, cohort)


def test_closing_a_draft_cohort_only_closes_it(admin):
    cohort = CohortFactory(draft=True)
    seq = audit_head_seq()
    service.close_cohort(admin.actor, cohort)
    assert cohort.status == "closed"
    assert events_since(seq) == [("cohort.closed", None)]


# --- terms ---------------------------------------------------------------------------------


def test_create_terms_stores_clauses_and_rate_card_as_a_draft(admin):
    seq = audit_head_seq()
    terms = service.create_terms(admin.actor, **terms_body())
    assert terms.status == "draft" and terms.published_at is None
    assert [(c.code, c.position) for c in terms.clauses] == [("P1", 0), ("P2", 1)]
    card = terms.rate_card.as_dict()
    assert card["currency"] == "USD" and card["bug_report"]["critical"] == 40000
    assert events_since(seq) == [("terms.created", None)]


def test_a_draft_can_be_edited_keeping_clause_codes(admin):
    terms = service.create_terms(admin.actor, **terms_body())
    clauses = [
        {"code": "P2", "title": "Renamed", "text": "Reworded."},
        {"code": "P1", "title": "No real people", "text": "Still."},
        {"code": "P3", "title": "New", "text": "Added."},
    ]
    seq = audit_head_seq()
    service.update_terms(
        admin.actor,
        terms,
        body="New body",
        clauses=clauses,
        rate_card={**terms_body()["rate_card"], "feedback_hour": 6000},
    )
    stored = service.get_terms(terms.id)
    assert [(c.code, c.title) for c in stored.clauses] == [
        ("P2", "Renamed"),
        ("P1", "No real people"),
        ("P3", "New"),
    ]
    assert stored.body == "New body" and stored.rate_card.feedback_hour == 6000
    assert events_since(seq) == [("terms.updated", None)]


def test_published_terms_never_change(admin):
    terms = TermsFactory()
    seq = audit_head_seq()
    with pytest.raises(Conflict, match="published and cannot change"):
        service.update_terms(
            admin.actor, terms, body="x", clauses=[], rate_card=terms_body()["rate_card"]
        )
    with pytest.raises(InvalidTransition, match="already published"):
        service.publish_terms(admin.actor, terms)
    assert events_since(seq) == []
    assert service.get_terms(terms.id).body == "# Terms\n\nBe kind to the tool."


def test_publish_freezes_the_version(admin):
    terms = service.create_terms(admin.actor, **terms_body())
    seq = audit_head_seq()
    service.publish_terms(admin.actor, terms)
    assert terms.is_published and terms.published_at is not None
    assert events_since(seq) == [("terms.published", None)]
    assert last_event("terms.published").data["clauses"] == ["P1", "P2"]


def test_publish_needs_a_content_policy(admin):
    terms = service.create_terms(admin.actor, **terms_body(clauses=[]))
    with pytest.raises(ValidationError) as exc:
        service.publish_terms(admin.actor, terms)
    assert "clauses" in exc.value.details and not terms.is_published


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"label": "  "}, "label"),
        ({"body": " "}, "body"),
        (
            {
                "clauses": [
                    {"code": "P1", "title": "a", "text": "b"},
                    {"code": "P1", "title": "c", "text": "d"},
                ]
            },
            "clauses",
        ),
        ({"rate_card": {**terms_body()["rate_card"], "marketing_use": -1}}, "marketing_use"),
        ({"rate_card": {**terms_body()["rate_card"], "currency": "dollars"}}, "currency"),
    ],
)
def test_create_terms_refuses_bad_content(admin, overrides, field):
    seq = audit_head_seq()
    with pytest.raises(ValidationError) as exc:
        service.create_terms(admin.actor, **terms_body(**overrides))
    assert field in exc.value.details
    assert events_since(seq) == []


def test_terms_labels_are_unique(admin):
    TermsFactory(label="2025-01")
    with pytest.raises(Conflict, match="already exist"):
        service.create_terms(admin.actor, **terms_body(label="2025-01"))


def test_moving_a_cohort_to_new_terms_makes_members_accept_again(admin):
    cohort = CohortFactory()
    member = GrantFactory(membership=MembershipFactory(cohort=cohort)).membership
    other = GrantFactory(membership=MembershipFactory(cohort=cohort)).membership
    assert decide_access(artist_id=member.user_id).allowed
    new = TermsFactory()
    seq = audit_head_seq()

    service.update_cohort(admin.actor, cohort, terms_id=new.id)

    assert events_since(seq) == [("cohort.terms_changed", None)]
    for m in (member, other):
        assert reason_codes(m.user_id) == ["terms_not_accepted"]
        assert len(outbox_to(m.user.email, "terms.new")) == 1
        assert service.needs_terms_acceptance(m)

    seq = audit_head_seq()
    service.accept_terms_version(member.user, member, new, ip="203.0.113.9")

    assert decide_access(artist_id=member.user_id).allowed
    assert reason_codes(other.user_id) == ["terms_not_accepted"]
    assert events_since(seq) == [("terms.accepted", member.user_id)]
    latest = service.acceptances(member.user)[-1]
    assert (latest.terms_id, latest.ip) == (new.id, "203.0.113.9")


def test_terms_can_only_move_to_published_versions(admin):
    cohort = CohortFactory()
    draft = TermsFactory(draft=True)
    with pytest.raises(Conflict, match="draft"):
        service.update_cohort(admin.actor, cohort, terms_id=draft.id)
    closed = CohortFactory(closed=True)
    with pytest.raises(InvalidTransition, match="closed"):
        service.update_cohort(admin.actor, closed, terms_id=TermsFactory().id)


def test_only_the_current_terms_can_be_accepted_once(admin):
    cohort = CohortFactory()
    membership = MembershipFactory(cohort=cohort)
    old = membership.accepted_terms
    with pytest.raises(Conflict, match="already accepted"):
        service.accept_terms_version(membership.user, membership, old, ip=None)
    service.update_cohort(admin.actor, cohort, terms_id=TermsFactory().id)
    with pytest.raises(Conflict, match="not the cohort's current terms"):
        service.accept_terms_version(membership.user, membership, old, ip=None)
    stranger = UserFactory()
    with pytest.raises(NotFound):
        service.accept_terms_version(stranger, membership, cohort.terms, ip=None)


def test_a_cohort_moved_back_to_terms_accepted_before_can_be_accepted_again(admin):
    cohort = CohortFactory()
    membership = MembershipFactory(cohort=cohort)
    first, second = cohort.terms, TermsFactory()
    service.update_cohort(admin.actor, cohort, terms_id=second.id)
    service.accept_terms_version(membership.user, membership, second, ip=None)
    service.update_cohort(admin.actor, cohort, terms_id=first.id)
    assert reason_codes(membership.user_id) == ["terms_not_accepted", "no_active_grant"]

    service.accept_terms_version(membership.user, membership, first, ip="198.51.100.1")

    assert membership.accepted_terms_id == first.id
    assert audit_count("terms.accepted") == 2


def test_diff_terms_shows_body_clause_and_rate_changes():
    old = TermsFactory(
        body="Line one\nLine two",
        clauses=[("P1", "People", "No real people."), ("P2", "Secrets", "No leaks.")],
    )
    new = TermsFactory(
        body="Line one\nLine 2",
        clauses=[("P1", "People", "No real or famous people."), ("P3", "Kids", "No minors.")],
        rate_card__marketing_use=75000,
        rate_card__currency="EUR",
    )

    diff = service.diff_terms(old, new)

    assert "-Line two" in diff.body and "+Line 2" in diff.body
    assert [c.code for c in diff.clauses_added] == ["P3"]
    assert [c.code for c in diff.clauses_removed] == ["P2"]
    assert [(a.text, b.text) for a, b in diff.clauses_changed] == [
        ("No real people.", "No real or famous people.")
    ]
    assert sorted(diff.rates_changed) == [
        ("currency", "USD", "EUR"),
        ("marketing_use", 50000, 75000),
    ]
    assert not diff.is_empty
    assert service.diff_terms(new, new).is_empty


def test_diff_from_nothing_lists_everything():
    new = TermsFactory()
    diff = service.diff_terms(None, new)
    assert [c.code for c in diff.clauses_added] == ["P1", "P2"]
    assert ("feedback_hour", None, 5000) in diff.rates_changed


# --- invitations ---------------------------------------------------------------------------


def test_invite_stores_only_the_token_hash_and_queues_the_email(admin):
    cohort = CohortFactory()
    seq = audit_head_seq()
    invitation, token = service.invite_artist(admin.actor, cohort, " Ana@Example.org ")

    assert invitation.email == "ana@example.org" and invitation.status == "pending"
    assert len(token) >= 22  # at least 128 bits, URL-safe base64
    assert invitation.token_hash == service.hash_invitation_token(token) != token
    assert invitation.expires_at - utcnow() > dt.timedelta(days=13)
    assert events_since(seq) == [("invitation.sent", None)]
    assert token not in str(last_event("invitation.sent").data)
    (mail,) = outbox_to("ana@example.org", "invitation")
    assert token in mail.body and cohort.name in mail.subject
    assert service.invitation_for_token(token) is invitation


def test_inviting_an_existing_artist_names_them_in_the_audit_event(admin):
    artist = UserFactory(email="known@example.org")
    seq = audit_head_seq()
    service.invite_artist(admin.actor, CohortFactory(), "known@example.org")
    assert events_since(seq) == [("invitation.sent", artist.id)]


def test_capacity_counts_members_and_pending_invitations(admin):
    cohort = CohortFactory(capacity=3)
    MembershipFactory(cohort=cohort)
    service.invite_artist(admin.actor, cohort, "one@example.org")
    service.invite_artist(admin.actor, cohort, "two@example.org")
    seq = audit_head_seq()
    with pytest.raises(Conflict, match="cohort full: 3 of 3") as exc:
        service.invite_artist(admin.actor, cohort, "three@example.org")
    assert exc.value.code == "cohort_full"
    assert events_since(seq) == []


def test_expired_pending_invitations_hold_no_seat(admin):
    cohort = CohortFactory(capacity=1)
    stale = InvitationFactory(cohort=cohort, email="late@example.org", expired=True)
    assert service.pending_invitation_count(cohort) == 0
    seq = audit_head_seq()

    invitation, _ = service.invite_artist(admin.actor, cohort, "late@example.org")

    assert stale.status == "expired" and invitation.status == "pending"
    assert [a for a, _ in events_since(seq)] == ["invitation.expired", "invitation.sent"]


def test_second_pending_invitation_for_the_same_email_is_refused(admin):
    cohort = CohortFactory()
    service.invite_artist(admin.actor, cohort, "dup@example.org")
    with pytest.raises(Conflict, match="already has a pending invitation") as exc:
        service.invite_artist(admin.actor, cohort, "DUP@example.org")
    assert exc.value.code == "duplicate_invitation"


def test_a_withdrawn_invitation_can_be_sent_again(admin):
    cohort = CohortFactory()
    InvitationFactory(cohort=cohort, email="back@example.org", withdrawn=True)
    invitation, _ = service.invite_artist(admin.actor, cohort, "back@example.org")
    assert invitation.status == "pending"


@pytest.mark.parametrize(
    "setup, code",
    [
        (lambda c: MembershipFactory(cohort=c, user__email="x@example.org"), "already_member"),
        (lambda c: MembershipFactory(user__email="x@example.org"), "member_elsewhere"),
        (lambda c: UserFactory(email="x@example.org", staff=True), "not_an_artist"),
    ],
)
def test_invitations_refused_for_who_cannot_join(admin, setup, code):
    cohort = CohortFactory()
    setup(cohort)
    with pytest.raises(Conflict) as exc:
        service.invite_artist(admin.actor, cohort, "x@example.org")
    assert exc.value.code == code


@pytest.mark.parametrize("trait", ["draft", "closed"])
def test_only_open_cohorts_take_invitations(admin, trait):
    cohort = CohortFactory(**{trait: True})
    with pytest.raises(Conflict, match=f"is {trait}"):
        service.invite_artist(admin.actor, cohort, "a@example.org")
    with pytest.raises(Conflict, match=f"is {trait}"):
        service.invite_many(admin.actor, cohort, ["a@example.org", "b@example.org"])


def test_malformed_email_is_a_validation_error(admin):
    with pytest.raises(ValidationError) as exc:
        service.invite_artist(admin.actor, CohortFactory(), "not-an-email")
    assert exc.value.details["email"]


def test_bulk_invitations_give_a_result_per_email(admin):
    cohort = CohortFactory(capacity=3)
    MembershipFactory(cohort=cohort, user__email="member@example.org")
    seq = audit_head_seq()

    results = service.invite_many(
        admin.actor,
        cohort,
        [
            "a@example.org",
            "nope",
            "A@example.org",
            "member@example.org",
            "b@example.org",
            "c@x.org",
        ],
    )

    assert [(r.email, r.status) for r in results] == [
        ("a@example.org", "sent"),
        ("nope", "invalid"),
        ("A@example.org", "duplicate_invitation"),
        ("member@example.org", "already_member"),
        ("b@example.org", "sent"),
        ("c@x.org", "cohort_full"),
    ]
    assert all(r.message for r in results)
    assert [r.accept_url is not None for r in results] == [True, False, False, False, True, False]
    assert events_since(seq) == [("invitation.sent", None)] * 2
    assert service.pending_invitation_count(cohort) == 2


def test_withdraw_only_pending_invitations(admin):
    invitation = InvitationFactory()
    seq = audit_head_seq()
    service.withdraw_invitation(admin.actor, invitation)
    assert invitation.status == "withdrawn" and invitation.responded_at is not None
    assert events_since(seq) == [("invitation.withdrawn", None)]
    with pytest.raises(InvalidTransition, match="is withdrawn"):
        service.withdraw_invitation(admin.actor, invitation)
    assert events_since(seq) == [("invitation.withdrawn", None)]


def test_withdrawn_invitation_frees_its_seat(admin):
    cohort = CohortFactory(capacity=1)
    invitation, _ = service.invite_artist(admin.actor, cohort, "a@example.org")
    service.withdraw_invitation(admin.actor, invitation)
    service.invite_artist(admin.actor, cohort, "b@example.org")
    assert service.pending_invitation_count(cohort) == 1


def test_expire_invitations_marks_only_overdue_ones(db, admin, runner):
    overdue = InvitationFactory(expired=True)
    fresh = InvitationFactory()
    result = runner.invoke(args=["invitations", "expire"])
    db.session.expire_all()
    assert result.exit_code == 0 and "Expired 1 invitation(s)." in result.output
    assert (overdue.status, fresh.status) == ("expired", "pending")
    assert last_event("invitation.expired").subject_id == str(overdue.id)


# --- accepting -----------------------------------------------------------------------------


def test_a_new_artist_accepts_and_gets_access(admin):
    invitation = InvitationFactory(email="new@example.org")
    terms = invitation.cohort.terms
    seq = audit_head_seq()

    membership = service.accept_invitation(
        invitation.token, accept_terms=True, ip="192.0.2.7", name=" Nia ", password=NEW_PASSWORD
    )

    artist = membership.user
    assert (artist.email, artist.name, artist.role) == ("new@example.org", "Nia", "artist")
    assert artist.password_hash and NEW_PASSWORD not in artist.password_hash
    assert membership.status == "active" and membership.accepted_terms_id == terms.id
    assert invitation.status == "accepted" and invitation.user_id == artist.id
    (acceptance,) = service.acceptances(artist)
    assert (acceptance.terms_id, acceptance.ip) == (terms.id, "192.0.2.7")
    decision = decide_access(artist_id=artist.id)
    assert decision.allowed and decision.grant_id is not None
    events = events_since(seq)
    assert [a for a, _ in events] == [
        "user.created",
        "invitation.accepted",
        "terms.accepted",
        "grant.created",
    ]
    assert [aid for _, aid in events[1:]] == [artist.id] * 3


def test_without_auto_grant_acceptance_gives_membership_but_no_access():
    invitation = InvitationFactory(cohort=CohortFactory(auto_grant=False))
    membership = service.accept_invitation(
        invitation.token, accept_terms=True, ip=None, name="Nia", password=NEW_PASSWORD
    )
    assert membership.status == "active"
    assert reason_codes(membership.user_id) == ["no_active_grant"]
    assert audit_count("grant.created") == 0


def test_an_existing_artist_accepts_with_their_password():
    artist = UserFactory(email="back@example.org")
    invitation = InvitationFactory(email="back@example.org")
    with pytest.raises(ValidationError) as exc:
        service.accept_invitation(invitation.token, accept_terms=True, ip=None, password="wrong")
    assert "password" in exc.value.details
    with pytest.raises(ValidationError):
        service.accept_invitation(invitation.token, accept_terms=True, ip=None)

    membership = service.accept_invitation(
        invitation.token, accept_terms=True, ip=None, name="Ignored", password=PASSWORD
    )

    assert membership.user is artist and artist.name != "Ignored"
    assert decide_access(artist_id=artist.id).allowed


def test_a_signed_in_artist_accepts_without_a_password():
    artist = UserFactory(email="in@example.org")
    invitation = InvitationFactory(email="in@example.org")
    membership = service.accept_invitation(
        invitation.token, accept_terms=True, ip=None, user=artist
    )
    assert membership.user is artist
    other = InvitationFactory(email="someone@example.org")
    with pytest.raises(Conflict, match="you are signed in as in@example.org"):
        service.accept_invitation(other.token, accept_terms=True, ip=None, user=artist)


def test_acceptance_needs_the_terms_ticked():
    invitation = InvitationFactory()
    with pytest.raises(ValidationError) as exc:
        service.accept_invitation(
            invitation.token, accept_terms=False, ip=None, name="N", password=NEW_PASSWORD
        )
    assert "accept_terms" in exc.value.details
    assert invitation.status == "pending"


def test_a_new_artist_needs_name_and_a_good_password():
    invitation = InvitationFactory()
    with pytest.raises(ValidationError) as exc:
        service.accept_invitation(invitation.token, accept_terms=True, ip=None)
    assert set(exc.value.details) == {"name", "password"}
    with pytest.raises(ValidationError) as exc:
        service.accept_invitation(
            invitation.token, accept_terms=True, ip=None, name="N", password="short"
        )
    assert "password" in exc.value.details


@pytest.mark.parametrize(
    "traits, code, words",
    [
        ({"accepted": True}, "invitation_accepted", "already been used"),
        ({"withdrawn": True}, "invitation_withdrawn", "withdrawn"),
        ({"expired": True}, "invitation_expired", "expired"),
        ({"status": "expired"}, "invitation_expired", "has expired"),
        ({"status": "declined"}, "invitation_declined", "declined"),
    ],
)
def test_unusable_links_are_gone(traits, code, words):
    invitation = InvitationFactory(**traits)
    with pytest.raises(Gone, match=words) as exc:
        service.accept_invitation(
            invitation.token, accept_terms=True, ip=None, name="N", password=NEW_PASSWORD
        )
    assert exc.value.code == code


def test_unknown_link_is_not_found():
    with pytest.raises(NotFound, match="not valid"):
        service.invitation_for_token("no-such-token-at-all")


def test_a_link_works_once():
    invitation = InvitationFactory()
    service.accept_invitation(
        invitation.token, accept_terms=True, ip=None, name="N", password=NEW_PASSWORD
    )
    with pytest.raises(Gone, match="already been used"):
        service.accept_invitation(
            invitation.token, accept_terms=True, ip=None, password=NEW_PASSWORD
        )


def test_a_member_elsewhere_cannot_accept():
    membership = MembershipFactory(user__email="busy@example.org")
    invitation = InvitationFactory(email="busy@example.org")
    with pytest.raises(Conflict, match=f"active member of {membership.cohort.name}"):
        service.accept_invitation(invitation.token, accept_terms=True, ip=None, password=PASSWORD)


def test_a_disabled_account_cannot_accept():
    UserFactory(email="off@example.org", disabled=True)
    invitation = InvitationFactory(email="off@example.org")
    with pytest.raises(Conflict, match="disabled"):
        service.accept_invitation(invitation.token, accept_terms=True, ip=None, password=PASSWORD)


def test_declining_uses_up_the_link():
    invitation = InvitationFactory()
    seq = audit_head_seq()
    service.decline_invitation(invitation.token)
    assert invitation.status == "declined"
    assert events_since(seq) == [("invitation.declined", None)]
    with pytest.raises(Gone):
        service.decline_invitation(invitation.token)


def test_refused_acceptance_writes_nothing(db):
    invitation = InvitationFactory(email="fresh@example.org")
    seq = audit_head_seq()
    with pytest.raises(ValidationError):
        service.accept_invitation(
            invitation.token, accept_terms=True, ip=None, name="N", password="short"
        )
    db.session.flush()
    assert db.session.scalar(sa.select(User).where(User.email == "fresh@example.org")) is None
    assert db.session.scalar(sa.select(sa.func.count(Membership.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(TermsAcceptance.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Grant.id))) == 0
    assert events_since(seq) == []


def test_the_plain_token_is_nowhere_in_the_invitations_table(db, admin):
    _, token = service.invite_artist(admin.actor, CohortFactory(), "a@example.org")
    db.session.flush()
    rows = db.session.execute(sa.select(Invitation.__table__)).all()
    assert rows and all(token not in str(tuple(row)) for row in rows)


def test_published_terms_are_readable_drafts_only_by_staff():
    artist, staff = UserFactory(), UserFactory(staff=True)
    published, draft = TermsFactory(), TermsFactory(draft=True)
    assert service.readable_terms(artist, published.id) is published
    assert service.readable_terms(staff, draft.id) is draft
    with pytest.raises(NotFound):
        service.readable_terms(artist, draft.id)


def test_clause_rows_follow_the_draft(admin):
    terms = service.create_terms(admin.actor, **terms_body())
    service.update_terms(
        admin.actor,
        terms,
        body="b",
        clauses=[{"code": "P9", "title": "t", "text": "x"}],
        rate_card=terms_body()["rate_card"],
    )
    from access_program.db import db

    db.session.flush()
    codes = db.session.scalars(
        sa.select(PolicyClause.code).where(PolicyClause.terms_id == terms.id)
    ).all()
    assert codes == ["P9"]


def test_withdrawing_a_known_artists_invitation_lands_in_their_record(admin):
    artist = UserFactory(email="known@example.org")
    invitation = InvitationFactory(email="known@example.org")
    seq = audit_head_seq()
    service.withdraw_invitation(admin.actor, invitation)
    assert events_since(seq) == [("invitation.withdrawn", artist.id)]

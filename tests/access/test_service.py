"""Access services: the rules, the refusals and exactly one audit event per change."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from access_program.access import service
from access_program.access.models import Pause, ReasonCode
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor
from access_program.db import utcnow
from access_program.errors import Conflict, InvalidTransition, NotFound, ValidationError
from access_program.outbox.models import OutboxMessage
from tests.access import setup_committed_before_requests  # noqa: F401
from tests.factories import (
    CohortFactory,
    GrantFactory,
    MembershipFactory,
    PauseFactory,
    UserFactory,
)
from tests.helpers import audit_actions_since, audit_head_seq


@pytest.fixture
def admin():
    return UserFactory(admin=True)


def last_event(db) -> AuditEvent:
    return db.session.scalar(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))


def recipients(db, kind: str) -> set[int]:
    return set(
        db.session.scalars(sa.select(OutboxMessage.user_id).where(OutboxMessage.kind == kind))
    )


# --- grants -------------------------------------------------------------------------------


def test_grant_access_writes_one_event_naming_the_artist(db, admin):
    member = MembershipFactory()
    head = audit_head_seq()
    expires = utcnow() + dt.timedelta(days=1)

    grant = service.grant_access(admin.actor, member, expires_at=expires)

    assert audit_actions_since(head) == ["grant.created"]
    event = last_event(db)
    assert (event.subject_id, event.artist_id, event.actor_id) == (
        str(grant.id),
        member.user_id,
        admin.id,
    )
    assert event.data["expires_at"] == expires.isoformat()
    assert grant.granted_by_id == admin.id
    assert service.decide_access(artist_id=member.user_id).grant_id == grant.id


def test_a_system_grant_has_no_granting_user(db):
    member = MembershipFactory()

    grant = service.grant_access(Actor.system("auto-grant on acceptance"), member)

    assert grant.granted_by_id is None
    assert last_event(db).actor_type == "system"


def test_grant_access_refuses_a_second_current_grant(db, admin):
    grant = GrantFactory(expires_at=utcnow() + dt.timedelta(days=3))
    head = audit_head_seq()

    with pytest.raises(Conflict, match=f"active grant {grant.id}"):
        service.grant_access(admin.actor, grant.membership)

    assert audit_head_seq() == head


def test_grant_access_refuses_an_ended_membership(admin):
    member = MembershipFactory(ended=True)

    with pytest.raises(Conflict, match="membership has ended"):
        service.grant_access(admin.actor, member)


def test_grant_access_refuses_a_past_expiry(admin):
    member = MembershipFactory()

    with pytest.raises(ValidationError) as refused:
        service.grant_access(admin.actor, member, expires_at=utcnow() - dt.timedelta(seconds=1))

    assert refused.value.details == {"expires_at": ["Pick a future time."]}


def test_grants_for_lists_newest_first_with_revoked_ones(admin):
    first = GrantFactory(revoked=True, granted_at=utcnow() - dt.timedelta(days=2))
    second = GrantFactory(membership=first.membership)

    assert [g.id for g in service.grants_for(first.membership.user)] == [second.id, first.id]


# --- revocations --------------------------------------------------------------------------


def test_revoke_grant_writes_one_event_and_one_email(db, admin):
    grant = GrantFactory()
    head = audit_head_seq()

    service.revoke_grant(admin.actor, grant, "misconduct", "  Shared the tool with others. ")

    assert audit_actions_since(head) == ["grant.revoked"]
    assert grant.revoke_reason == "Shared the tool with others."
    assert grant.revoke_category == "misconduct"
    assert grant.revoked_by_id == admin.id
    assert last_event(db).artist_id == grant.user_id
    assert recipients(db, "grant.revoked") == {grant.user_id}


@pytest.mark.parametrize(
    ("category", "reason", "fields"),
    [("", "", {"category", "reason"}), ("nope", "x", {"category"}), ("other", " ", {"reason"})],
)
def test_revoke_grant_names_each_missing_part(admin, category, reason, fields):
    grant = GrantFactory()

    with pytest.raises(ValidationError) as refused:
        service.revoke_grant(admin.actor, grant, category, reason)

    assert set(refused.value.details) == fields
    assert grant.revoked_at is None


def test_revoking_a_revoked_grant_is_an_invalid_transition(admin):
    grant = GrantFactory(revoked=True)
    head = audit_head_seq()

    with pytest.raises(InvalidTransition, match="already revoked"):
        service.revoke_grant(admin.actor, grant, "other", "Again.")

    assert audit_head_seq() == head


def test_revoke_all_counts_and_skips_other_cohorts_and_revoked_grants(db, admin):
    cohort = CohortFactory()
    grants = [GrantFactory(membership__cohort=cohort) for _ in range(2)]
    ended_member_grant = GrantFactory(membership__cohort=cohort, membership__ended=True)
    GrantFactory(membership__cohort=cohort, revoked=True)
    other = GrantFactory()
    head = audit_head_seq()

    count = service.revoke_all(admin.actor, cohort, "program_end", "Cohort over.")

    assert count == 3
    assert audit_actions_since(head) == ["grant.revoked"] * 3
    for grant in [*grants, ended_member_grant]:
        assert grant.revoke_reason == "Cohort over."
    assert other.revoked_at is None


def test_revoke_all_validates_before_touching_anything(admin):
    grant = GrantFactory()

    with pytest.raises(ValidationError):
        service.revoke_all(admin.actor, grant.membership.cohort, "other", "")

    assert grant.revoked_at is None


# --- pauses -------------------------------------------------------------------------------


def test_start_pause_writes_one_event_and_emails_active_members(db, admin):
    members = [MembershipFactory() for _ in range(2)]
    staff_member = UserFactory(staff=True)
    head = audit_head_seq()

    pause = service.start_pause(admin.actor, scope="global", reason=" Model update. ")

    assert audit_actions_since(head) == ["pause.started"]
    assert pause.reason == "Model update."
    assert pause.scope_key == "global"
    assert pause.started_by_id == admin.id
    assert recipients(db, "pause.started") == {m.user_id for m in members}
    assert staff_member.id not in recipients(db, "pause.started")


def test_a_cohort_pause_needs_its_cohort(admin):
    with pytest.raises(ValidationError) as refused:
        service.start_pause(admin.actor, scope="cohort", reason="x")

    assert set(refused.value.details) == {"cohort_id"}


def test_start_pause_names_every_problem(admin):
    with pytest.raises(ValidationError) as refused:
        service.start_pause(
            admin.actor,
            scope="galaxy",
            reason="",
            expected_end_at=utcnow() - dt.timedelta(minutes=1),
        )

    assert set(refused.value.details) == {"scope", "reason", "expected_end"}


def test_start_pause_refuses_a_second_open_pause_of_the_scope(admin):
    cohort = CohortFactory()
    service.start_pause(admin.actor, scope="cohort", cohort=cohort, reason="One.")

    with pytest.raises(Conflict, match="already open"):
        service.start_pause(admin.actor, scope="cohort", cohort=cohort, reason="Two.")

    # A global pause while a cohort pause is open is a different scope.
    assert service.start_pause(admin.actor, scope="global", reason="Everyone.").is_open


def test_the_unique_index_turns_a_lost_race_into_a_conflict(db, admin, monkeypatch):
    """Two requests can both pass the "is one open?" check; the second insert then hits the
    unique partial index. That must be a 409, with the transaction still usable."""
    PauseFactory(reason="The winner.")
    head = audit_head_seq()
    monkeypatch.setattr(service, "_open_pause", lambda scope_key: None)

    with pytest.raises(Conflict) as refused:
        service.start_pause(admin.actor, scope="global", reason="The loser.")

    assert refused.value.code == "pause_open"
    assert audit_head_seq() == head
    reasons = db.session.scalars(sa.select(Pause.reason).where(Pause.ended_at.is_(None))).all()
    assert reasons == ["The winner."]
    assert recipients(db, "pause.started") == set()


def test_end_pause_writes_one_event_and_emails_the_same_artists(db, admin):
    member = MembershipFactory()
    pause = PauseFactory(for_cohort=True, cohort=member.cohort)
    MembershipFactory()
    head = audit_head_seq()

    service.end_pause(admin.actor, pause, "  ")

    assert audit_actions_since(head) == ["pause.ended"]
    assert pause.end_note is None
    assert pause.ended_by_id == admin.id
    assert not pause.is_open
    assert recipients(db, "pause.ended") == {member.user_id}


def test_ending_an_ended_pause_is_an_invalid_transition(admin):
    pause = PauseFactory(ended=True)

    with pytest.raises(InvalidTransition, match="already ended"):
        service.end_pause(admin.actor, pause)


def test_open_pauses_for_each_viewer(admin):
    member = MembershipFactory()
    global_pause = PauseFactory()
    mine = PauseFactory(for_cohort=True, cohort=member.cohort)
    theirs = PauseFactory(for_cohort=True)
    PauseFactory(for_cohort=True, cohort=member.cohort, ended=True)

    assert {p.id for p in service.open_pauses_for(member.user)} == {global_pause.id, mine.id}
    assert {p.id for p in service.open_pauses_for(None)} == {global_pause.id}
    assert {p.id for p in service.open_pauses_for(admin)} == {global_pause.id, mine.id, theirs.id}


def test_list_pauses_open_only(db):
    PauseFactory(ended=True)
    open_one = PauseFactory()

    assert [p.id for p in db.session.scalars(service.list_pauses(open_only=True))] == [open_one.id]
    assert len(db.session.scalars(service.list_pauses()).all()) == 2


def test_get_pause_and_grant_and_artist_404_for_impossible_ids():
    for getter in (service.get_pause, service.get_grant, service.get_artist):
        with pytest.raises(NotFound):
            getter(2**40)
        with pytest.raises(NotFound):
            getter(0)


# --- artists ------------------------------------------------------------------------------


def test_set_external_id_trims_records_and_clears(db, admin):
    artist = UserFactory(external_id="before")
    head = audit_head_seq()

    service.set_external_id(admin.actor, artist, "  after ")
    service.set_external_id(admin.actor, artist, "   ")

    assert artist.external_id is None
    assert audit_actions_since(head) == ["artist.external_id_set"] * 2
    assert last_event(db).data == {"from": "after", "to": None}
    assert last_event(db).artist_id == artist.id


def test_set_external_id_refuses_one_that_is_taken(admin):
    UserFactory(external_id="taken")
    artist = UserFactory()
    head = audit_head_seq()

    with pytest.raises(Conflict, match="already belongs"):
        service.set_external_id(admin.actor, artist, "taken")

    assert audit_head_seq() == head


def test_list_artists_searches_name_and_email():
    UserFactory(name="Zed Alpha", email="zed@example.org")
    UserFactory(name="Other Person", email="mira@studio.example")
    UserFactory(staff=True, name="Zed Staff")

    def names(q):
        return [u.name for u in service.db.session.scalars(service.list_artists(q=q))]

    assert names("zed") == ["Zed Alpha"]
    assert names("STUDIO") == ["Other Person"]


# --- the decision and the artist's own status ---------------------------------------------


def test_decide_access_without_any_id_is_unknown_not_the_first_artist_without_one():
    GrantFactory()

    decision = service.decide_access(external_id=None)

    assert [r["code"] for r in decision.reasons] == [ReasonCode.UNKNOWN_ARTIST]
    assert decision.artist_id is None


def test_artist_status_for_a_paused_artist(db):
    grant = GrantFactory()
    PauseFactory(reason="Wait.", expected_end_at=utcnow() + dt.timedelta(hours=5))

    status = service.artist_status(grant.membership.user)

    assert status["access"]["allowed"] is False
    assert status["access"]["grant_id"] == grant.id
    assert status["cohort"] == {
        "id": grant.membership.cohort_id,
        "name": grant.membership.cohort.name,
        "terms_id": grant.membership.cohort.terms_id,
    }
    (pause,) = status["pauses"]
    assert pause["reason"] == "Wait." and pause["expected_end_at"]
    assert status["needs_terms_acceptance"] is False


def test_artist_status_without_membership():
    status = service.artist_status(UserFactory())

    assert status["cohort"] is None
    assert status["needs_terms_acceptance"] is False
    assert [r["code"] for r in status["access"]["reasons"]] == ["no_active_membership"]


def test_the_cli_prints_the_decision(runner):
    grant = GrantFactory()

    result = runner.invoke(args=["access", "decide", str(grant.user_id)])

    assert result.exit_code == 0, result.output
    assert '"allowed": true' in result.output
    assert f'"grant_id": {grant.id}' in result.output

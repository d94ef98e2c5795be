"""`flask seed-demo`: a realistic program to click through. Running it twice changes nothing."""

from __future__ import annotations

import datetime as dt
import itertools

import click
import sqlalchemy as sa
from flask import current_app

from access_program.access import service as access
from access_program.accounts import service as accounts
from access_program.accounts.models import Role
from access_program.audit.service import Actor
from access_program.cohorts import service as cohorts
from access_program.cohorts.models import Cohort, Membership, OnDeadline, Terms, TermsAcceptance
from access_program.compensation import service as compensation
from access_program.db import db, unit_of_work, utcnow
from access_program.errors import DomainError
from access_program.reviews import service as reviews
from access_program.reviews.models import IntendedUse, Submission

DEMO_COHORT = "Spring 2027 Early Access"
ADMIN = ("admin@example.org", "Ada Admin", "admin-demo-pass")
STAFF = ("staff@example.org", "Sam Staff", "staff-demo-pass")
#: Second and third reviewers: a rejection needs two people, an appeal a third.
REVIEWER2 = ("reviewer2@example.org", "Riley Reviewer", "reviewer-demo-pass")
REVIEWER3 = ("reviewer3@example.org", "Casey Checker", "reviewer-demo-pass")
ARTIST_PASSWORD = "artist-demo-pass"

TERMS_BODY = """# Early-access terms

You get early access to the generation tool to make work, test it and tell us what breaks.

## What we pay
Every kind of contribution is paid at the rates below. Nobody is credited by hand.

## Sharing your outputs
Ask before sharing an output. Each request is reviewed within the cohort's review deadline,
or it is approved automatically. A refusal always cites the policy clauses below and a reason.

## Leaving
You may leave at any time; your balance is paid out in full at the next payout run.
"""

CLAUSES = [
    (
        "P1",
        "No real people without consent",
        "Outputs must not depict identifiable real people without their consent.",
    ),
    ("P2", "No sexual content involving minors", "Never, in any form."),
    (
        "P3",
        "No unreleased features",
        "Do not show features of the tool marked as confidential in the release notes.",
    ),
    ("P4", "Credit the tool", "Public posts name the tool as used in making the work."),
    ("P5", "No deceptive news imagery", "Do not present generated footage as real news footage."),
]

RATE_CARD = {
    "currency": "USD",
    "feedback_hour": 7500,
    "bug_report": {"low": 2500, "medium": 7500, "high": 20000, "critical": 50000},
    "red_team_finding": {"low": 5000, "medium": 15000, "high": 40000, "critical": 100000},
    "approved_output": 2000,
    "marketing_use": 50000,
    "monthly_stipend": 30000,
    "minimum_payout": 2500,
}


def seed(artists: int = 280, pending: int = 20) -> bool:
    """Build the demo program; False if it already exists."""
    if db.session.scalar(sa.select(Cohort.id).where(Cohort.name == DEMO_COHORT)) is not None:
        return False
    # The demo passwords are published in the README: a slow hash would only slow the seed.
    config = current_app.config
    hash_method = config["PASSWORD_HASH_METHOD"]
    config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    try:
        _build(artists, pending)
    finally:
        config["PASSWORD_HASH_METHOD"] = hash_method
    return True


REVOCATIONS = [
    ("artist_request", "The artist asked to leave the program."),
    ("inactivity", "No activity for 60 days after two reminders."),
    ("misconduct", "Shared confidential outputs publicly against clause P3, twice."),
]


def _account(system: Actor, person: tuple[str, str, str], role: Role):
    """The demo account, or the one already made with that email (e.g. by create-admin)."""
    email, name, password = person
    existing = accounts.get_user_by_email(email)
    if existing is not None:
        return existing
    return accounts.create_user(system, email=email, name=name, role=role, password=password)


def _build(artists: int, pending: int) -> None:
    system = Actor.system("seed-demo")
    admin = _account(system, ADMIN, Role.ADMIN)
    staff = [_account(system, person, Role.STAFF) for person in (STAFF, REVIEWER2, REVIEWER3)]
    terms = cohorts.create_terms(
        admin.actor,
        label="v1 — January 2027",
        body=TERMS_BODY,
        clauses=[{"code": c, "title": t, "text": x} for c, t, x in CLAUSES],
        rate_card=RATE_CARD,
    )
    cohorts.publish_terms(admin.actor, terms)
    cohort = cohorts.create_cohort(
        admin.actor,
        name=DEMO_COHORT,
        description="Three hundred invited artists testing the unreleased video model.",
        capacity=max(300, artists + pending),
        terms_id=terms.id,
    )
    cohorts.open_cohort(admin.actor, cohort)
    memberships = []
    for n in range(1, artists + 1):
        invitation, token = cohorts.invite_artist(admin.actor, cohort, f"artist{n:03d}@example.org")
        memberships.append(
            cohorts.accept_invitation(
                token,
                accept_terms=True,
                ip="127.0.0.1",
                name=f"Artist {n:03d}",
                password=ARTIST_PASSWORD,
            )
        )
    for n in range(artists + 1, artists + pending + 1):
        cohorts.invite_artist(admin.actor, cohort, f"invitee{n:03d}@example.org")
    # A few revocations, at the end of the list (artist001 … stay active for the sign-in).
    revoked = memberships[-len(REVOCATIONS) :] if artists > len(REVOCATIONS) else []
    for membership, (category, reason) in zip(revoked, REVOCATIONS, strict=True):
        for grant in access.grants_for(membership.user):
            if grant.revoked_at is None:
                access.revoke_grant(admin.actor, grant, category, reason)
    for n, membership in enumerate(memberships[:50], start=1):
        access.set_external_id(admin.actor, membership.user, f"tool-user-{n:04d}")
    pause = access.start_pause(
        admin.actor,
        scope="global",
        reason="Safety review of a model update after a reported misuse.",
        expected_end_at=None,
    )
    access.end_pause(admin.actor, pause, "Review done; the update was rolled back.")
    active = memberships[: len(memberships) - len(revoked)]
    if active:
        _backdate_joining(cohort, active)
        artist_users = [m.user for m in active]
        approved = _requests(admin, staff, cohort, artist_users)
        _contributions(staff[0], artist_users, approved)


# --- output-approval requests and contributions ---------------------------------------------

#: How long ago the demo artists joined and accepted the terms (see _backdate_joining).
JOINED_DAYS_AGO = 40

OUTPUTS = [
    ("Harbour at dusk", IntendedUse.FESTIVAL, "IFFR Rotterdam, Short Film Competition"),
    ("Portrait study no. 4", IntendedUse.EXHIBITION, "Galerie Nord, group show"),
    ("Glass city timelapse", IntendedUse.SOCIAL_POST, "my Instagram account"),
    ("Choreography test", IntendedUse.PORTFOLIO, "my website"),
    ("Storm over the plain", IntendedUse.PRESS, "Interview in a film magazine"),
    ("Coffee roaster teaser", IntendedUse.COMMERCIAL, "A client's spring campaign"),
    ("Night market", IntendedUse.SOCIAL_POST, "my Vimeo channel"),
    ("Dream sequence", IntendedUse.FESTIVAL, "Berlinale Shorts"),
    ("Workshop reel", IntendedUse.OTHER, "A talk at my art school"),
]

#: (clause, reason) for refusals and requested changes.
REFUSALS = [
    ("P1", "The crowd shot shows a recognisable passer-by who has not consented to appear."),
    ("P3", "The interface visible at 0:12 shows the unreleased camera-path feature."),
    ("P5", "The clip is styled as a live news broadcast and would pass as real footage."),
]
CHANGES = ("P4", "Please add the credit line naming the tool to the caption, then resubmit.")
APPEALS = [
    "The passer-by is my brother; I attached his signed release to the output's notes.",
    "That feature was announced publicly last week, so it is no longer confidential.",
]


def _backdate_joining(cohort: Cohort, memberships: list[Membership]) -> None:
    """A precondition tweak, not a service call: the demo artists joined and accepted the
    terms JOINED_DAYS_AGO days ago, so last month's stipend and last week's feedback session
    are priced at their rate card. The audit events keep the real time of the seed."""
    then = utcnow() - dt.timedelta(days=JOINED_DAYS_AGO)
    terms = db.session.get(Terms, cohort.terms_id)
    terms.published_at = then - dt.timedelta(days=2)
    ids = [m.id for m in memberships]
    db.session.execute(sa.update(Membership).where(Membership.id.in_(ids)).values(joined_at=then))
    db.session.execute(
        sa.update(TermsAcceptance)
        .where(TermsAcceptance.membership_id.in_(ids))
        .values(accepted_at=then)
    )


def _backdate(submissions: list[Submission], hours_late: int) -> None:
    """A precondition tweak, not a service call: the requests were submitted long enough ago
    that their review deadline passed ``hours_late`` (+ n) hours ago."""
    now = utcnow()
    for n, submission in enumerate(submissions):
        due = now - dt.timedelta(hours=hours_late + n)
        submitted = due - dt.timedelta(hours=submission.cohort.review_hours)
        submission.created_at = submission.submitted_at = submitted
        submission.due_at = submission.queue_at = due
        if submission.claimed_at is not None:
            submission.claimed_at = submitted + dt.timedelta(hours=3)
    db.session.flush()


class _Requests:
    """Builds one request per scenario through the review services."""

    def __init__(self, staff: list) -> None:
        self.staff = staff
        self.count = 0
        self.approved: list[Submission] = []

    def submit(self, artist, *, sha: bool = False) -> Submission:
        title, use, venue = OUTPUTS[self.count % len(OUTPUTS)]
        self.count += 1
        take = (self.count - 1) // len(OUTPUTS)
        data = {
            "title": title if take == 0 else f"{title}, take {take + 1}",
            "description": f"{title}: a study made with the early-access model.",
            "output_ref": f"https://tool.example.org/outputs/{40000 + self.count}",
            "output_sha256": f"{self.count:064x}" if sha else None,
            "intended_use": use,
            "venue": venue,
            "planned_date": (utcnow() + dt.timedelta(days=10 + self.count % 40)).date(),
        }
        return reviews.submit_request(artist, data)

    def _reviewers(self, n: int):
        """Who proposes, who confirms, who decides appeals: three different people."""
        a, b, c = self.staff
        return [(a, b, c), (b, c, a), (c, a, b)][n % 3]

    def fresh(self, artist, n: int) -> Submission:
        return self.submit(artist, sha=n % 2 == 1)

    def claimed(self, artist, n: int) -> Submission:
        submission = self.submit(artist, sha=n % 2 == 0)
        reviews.claim_request(self._reviewers(n)[0], submission)
        return submission

    def proposed(self, artist, n: int) -> Submission:
        submission = self.claimed(artist, n)
        clause, reason = REFUSALS[n % len(REFUSALS)]
        reviews.decide_request(
            self._reviewers(n)[0], submission, outcome="rejected", reason=reason, clauses=[clause]
        )
        return submission

    def approved_one(self, artist, n: int) -> Submission:
        submission = self.claimed(artist, n)
        reviews.decide_request(
            self._reviewers(n)[0],
            submission,
            outcome="approved",
            reason="Fine to share; thank you for asking early.",
            allowed_uses=[submission.intended_use, IntendedUse.PORTFOLIO],
        )
        self.approved.append(submission)
        return submission

    def overturned(self, artist, n: int) -> Submission:
        """A proposed rejection the second reviewer replaced with an approval."""
        submission = self.proposed(artist, n)
        reviews.decide_request(
            self._reviewers(n)[1],
            submission,
            outcome="approved",
            reason="The person shown is the artist; no consent issue. Approved as asked.",
        )
        self.approved.append(submission)
        return submission

    def changes(self, artist, n: int) -> Submission:
        submission = self.claimed(artist, n)
        clause, reason = CHANGES
        reviews.decide_request(
            self._reviewers(n)[0],
            submission,
            outcome="changes_requested",
            reason=reason,
            clauses=[clause],
        )
        return submission

    def revised(self, artist, n: int) -> Submission:
        submission = self.changes(artist, n)
        data = {field: getattr(submission, field) for field in reviews.REQUEST_FIELDS}
        data["description"] += " Caption: made with the early-access video model."
        return reviews.revise_request(artist, submission, data)

    def rejected(self, artist, n: int) -> Submission:
        submission = self.proposed(artist, n)
        reviews.confirm_rejection(
            self._reviewers(n)[1], submission, "Agreed: the clause applies as cited."
        )
        return submission

    def appealed(self, artist, n: int) -> Submission:
        submission = self.rejected(artist, n)
        reviews.appeal_request(artist, submission, APPEALS[n % len(APPEALS)])
        return submission

    def appeal_granted(self, artist, n: int) -> Submission:
        submission = self.appealed(artist, n)
        reviews.decide_appeal(
            self._reviewers(n)[2],
            submission,
            "granted",
            "The signed release settles it: the clause cited no longer applies.",
        )
        return submission

    def appeal_upheld(self, artist, n: int) -> Submission:
        submission = self.appealed(artist, n)
        reviews.decide_appeal(
            self._reviewers(n)[2],
            submission,
            "upheld",
            "The release does not cover the second person visible at 0:40; the rejection stands.",
        )
        return submission

    def withdrawn(self, artist, n: int) -> Submission:
        submission = self.submit(artist)
        reviews.withdraw_request(artist, submission)
        return submission


def _requests(admin, staff: list, cohort: Cohort, artists: list) -> list[Submission]:
    """Requests in every state, some overdue; artist001 has one of each. Returns the approved
    ones (for a marketing use)."""
    build = _Requests(staff)
    scenarios = [
        build.fresh,
        build.claimed,
        build.proposed,
        build.approved_one,
        build.overturned,
        build.changes,
        build.revised,
        build.rejected,
        build.appealed,
        build.appeal_granted,
        build.appeal_upheld,
        build.withdrawn,
    ]
    rounds = max(2, len(artists) // 20)
    others = itertools.cycle(artists[1:] or artists)
    late = {"escalated": [], "deemed": [], "overdue": []}
    for r in range(rounds):
        for n, scenario in enumerate(scenarios):
            artist = artists[0] if r == 0 else next(others)
            scenario(artist, r + n)
        artist = artists[0] if r == 0 else next(others)
        late["escalated"].append(build.claimed(artist, r))
        late["deemed"].append(build.submit(artist))
        late["deemed"].append(build.proposed(next(others) if r else artist, r + 1))
        late["overdue"].append(build.submit(next(others) if r else artist))
    # Escalation: for a while the cohort escalated overdue requests to the admins instead of
    # approving them; those stay open, marked escalated. Then it went back to deemed approval.
    _backdate(late["escalated"], hours_late=30)
    cohorts.update_cohort(admin.actor, cohort, on_deadline=OnDeadline.ESCALATE)
    reviews.apply_deadlines()
    _backdate(late["deemed"], hours_late=6)
    cohorts.update_cohort(admin.actor, cohort, on_deadline=OnDeadline.DEEMED_APPROVED)
    reviews.apply_deadlines()
    # Overdue and still open: the next `flask reviews apply-deadlines` deems them approved.
    _backdate(late["overdue"], hours_late=2)
    return build.approved


def _contributions(staff, artists: list, approved: list[Submission]) -> None:
    """Proposed, accepted and declined contributions, a feedback session, a marketing use and
    last month's stipends: the ledger has balances."""
    today = utcnow().date()
    pick = itertools.cycle(artists)
    proposed = []
    for severity, title in [
        ("high", "Export crashes on 4K timelines longer than 10 minutes"),
        ("medium", "Camera path resets after undo"),
        ("low", "Typo in the render settings tooltip"),
        ("critical", "Another user's prompt history shown after sign-in"),
    ]:
        proposed.append(
            compensation.propose_contribution(
                next(pick),
                kind="bug_report",
                severity=severity,
                title=title,
                description="Steps to reproduce are in the linked ticket.",
                link="https://tracker.example.org/issues/1042",
            )
        )
    compensation.accept_contribution(staff, proposed[0])
    compensation.decline_contribution(
        staff,
        proposed[2],
        "Already reported by another artist and fixed in build 0.9.3; thank you all the same.",
    )
    finding = compensation.propose_contribution(
        artists[0],
        kind="red_team_finding",
        severity="high",
        title="Prompt injection through an uploaded subtitle file",
        description="A crafted .srt file makes the model ignore the safety settings.",
    )
    compensation.accept_contribution(staff, finding)
    weak = compensation.propose_contribution(
        next(pick),
        kind="red_team_finding",
        severity="medium",
        title="The model can draw a celebrity look-alike",
        description="Asked for a famous actor by description; the face is similar.",
    )
    compensation.decline_contribution(
        staff,
        weak,
        "Look-alikes from descriptions are a known, documented limit, not a new finding.",
    )
    compensation.log_feedback_session(
        staff,
        title="Moderated session: the new timeline editor",
        held_on=today - dt.timedelta(days=7),
        hours=2,
        artist_ids=[a.id for a in artists[:8]],
    )
    if approved:
        compensation.record_marketing_use(
            staff,
            submission_id=approved[0].id,
            channel="Launch trailer on the company's video channel",
            used_on=today - dt.timedelta(days=1),
        )
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    compensation.accrue_stipends(last_month)


@click.command("seed-demo")
@click.option("--artists", default=280, show_default=True, type=click.IntRange(0, 5000))
@click.option("--pending", default=20, show_default=True, type=click.IntRange(0, 5000))
def seed_demo_command(artists: int, pending: int) -> None:
    """Create the demo program (a 300-seat cohort) unless it exists."""
    try:
        with unit_of_work():
            created = seed(artists, pending)
    except DomainError as exc:
        raise click.ClickException(f"Demo data not created: {exc.message}") from None
    base = current_app.config["PUBLIC_BASE_URL"]
    click.echo("Demo data created." if created else "Demo data already present; nothing changed.")
    click.echo(f"Sign in at {base}/login with:")
    click.echo(f"  admin   {ADMIN[0]} / {ADMIN[2]}")
    click.echo(f"  staff   {STAFF[0]} / {STAFF[2]}")
    click.echo(f"  staff   {REVIEWER2[0]} / {REVIEWER2[2]}  (second reviewer)")
    click.echo(f"  staff   {REVIEWER3[0]} / {REVIEWER3[2]}  (third reviewer, for appeals)")
    click.echo(
        f"  artist  artist001@example.org / {ARTIST_PASSWORD}  (and artist002, artist003, …)"
    )

"""`flask seed-demo`: a realistic program to click through. Running it twice changes nothing."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app

from access_program.access import service as access
from access_program.accounts import service as accounts
from access_program.accounts.models import Role
from access_program.audit.service import Actor
from access_program.cohorts import service as cohorts
from access_program.cohorts.models import Cohort
from access_program.db import db, unit_of_work
from access_program.errors import DomainError

DEMO_COHORT = "Spring 2027 Early Access"
ADMIN = ("admin@example.org", "Ada Admin", "admin-demo-pass")
STAFF = ("staff@example.org", "Sam Staff", "staff-demo-pass")
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
    "approved_output": 0,
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
    _account(system, STAFF, Role.STAFF)
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
    click.echo(
        f"  artist  artist001@example.org / {ARTIST_PASSWORD}  (and artist002, artist003, …)"
    )

"""All factories: one abstract base, traits for states. They build preconditions only."""

from __future__ import annotations

import datetime as dt
import secrets

import factory
from werkzeug.security import generate_password_hash

from access_program.access.models import Grant, Pause
from access_program.accounts.models import ApiToken, Role, User
from access_program.accounts.service import hash_token
from access_program.cohorts.models import (
    Cohort,
    Invitation,
    Membership,
    PolicyClause,
    RateCard,
    Terms,
    TermsAcceptance,
)
from access_program.compensation.models import Contribution, LedgerEntry
from access_program.db import db, utcnow
from access_program.payouts.models import Payout, PayoutAccount, PayoutRun
from access_program.reviews.models import Appeal, Decision, Submission

PASSWORD = "correct horse battery"
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


class BaseFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class UserFactory(BaseFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    name = factory.Faker("name")
    role = Role.ARTIST
    active = True
    password_hash = _PASSWORD_HASH

    class Params:
        staff = factory.Trait(role=Role.STAFF)
        admin = factory.Trait(role=Role.ADMIN)
        disabled = factory.Trait(active=False)


class RateCardFactory(BaseFactory):
    class Meta:
        model = RateCard

    currency = "USD"
    feedback_hour = 5000
    bug_low = 2000
    bug_medium = 5000
    bug_high = 15000
    bug_critical = 40000
    red_team_low = 4000
    red_team_medium = 10000
    red_team_high = 30000
    red_team_critical = 80000
    approved_output = 0
    marketing_use = 50000
    monthly_stipend = 25000
    minimum_payout = 2500


class TermsFactory(BaseFactory):
    class Meta:
        model = Terms

    label = factory.Sequence(lambda n: f"v{n}")
    body = "# Terms\n\nBe kind to the tool."
    status = "published"
    published_at = factory.LazyFunction(utcnow)
    rate_card = factory.RelatedFactory(RateCardFactory, factory_related_name="terms")

    class Params:
        draft = factory.Trait(status="draft", published_at=None)

    @factory.post_generation
    def clauses(self, create, extracted, **kwargs):
        specs = extracted or [
            ("P1", "No real people", "Do not depict identifiable real people."),
            ("P2", "No confidential features", "Do not show unreleased features."),
        ]
        for position, (code, title, text) in enumerate(specs):
            self.clauses.append(PolicyClause(code=code, title=title, text=text, position=position))
        db.session.flush()


class CohortFactory(BaseFactory):
    class Meta:
        model = Cohort

    name = factory.Sequence(lambda n: f"Cohort {n}")
    capacity = 300
    status = "open"
    terms = factory.SubFactory(TermsFactory)

    class Params:
        draft = factory.Trait(status="draft")
        closed = factory.Trait(status="closed", closed_at=factory.LazyFunction(utcnow))


class MembershipFactory(BaseFactory):
    """An active member who accepted the cohort's current terms."""

    class Meta:
        model = Membership

    cohort = factory.SubFactory(CohortFactory)
    user = factory.SubFactory(UserFactory)
    status = "active"
    accepted_terms = factory.LazyAttribute(lambda o: o.cohort.terms)

    class Params:
        ended = factory.Trait(status="ended", ended_at=factory.LazyFunction(utcnow))
        terms_not_accepted = factory.Trait(accepted_terms=None)

    @factory.post_generation
    def acceptance(self, create, extracted, **kwargs):
        if self.accepted_terms is not None:
            db.session.add(
                TermsAcceptance(
                    membership_id=self.id, user_id=self.user_id, terms_id=self.accepted_terms.id
                )
            )
            db.session.flush()


class GrantFactory(BaseFactory):
    class Meta:
        model = Grant

    membership = factory.SubFactory(MembershipFactory)
    user_id = factory.LazyAttribute(lambda o: o.membership.user_id)
    scope = "generate"

    class Params:
        revoked = factory.Trait(
            revoked_at=factory.LazyFunction(utcnow),
            revoke_category="other",
            revoke_reason="Revoked in a test.",
        )
        expired = factory.Trait(
            expires_at=factory.LazyFunction(lambda: utcnow() - dt.timedelta(hours=1))
        )


class InvitationFactory(BaseFactory):
    """``InvitationFactory(token="…")`` keeps a known link token; ``inv.token`` reads it back."""

    class Meta:
        model = Invitation

    cohort = factory.SubFactory(CohortFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.org")
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    token_hash = factory.LazyAttribute(lambda o: hash_token(o.token))
    expires_at = factory.LazyFunction(lambda: utcnow() + dt.timedelta(days=14))
    status = "pending"

    class Params:
        expired = factory.Trait(
            expires_at=factory.LazyFunction(lambda: utcnow() - dt.timedelta(days=1))
        )
        withdrawn = factory.Trait(status="withdrawn")
        accepted = factory.Trait(status="accepted")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        token = kwargs.pop("token", None)
        obj = super()._create(model_class, *args, **kwargs)
        obj.token = token
        return obj


class PauseFactory(BaseFactory):
    class Meta:
        model = Pause

    scope = "global"
    scope_key = factory.LazyAttribute(
        lambda o: "global" if o.scope == "global" else f"cohort:{o.cohort.id}"
    )
    cohort = None
    reason = "Safety review of a model update."

    class Params:
        ended = factory.Trait(ended_at=factory.LazyFunction(utcnow), end_note="Done.")
        for_cohort = factory.Trait(scope="cohort", cohort=factory.SubFactory(CohortFactory))


class ApiTokenFactory(BaseFactory):
    """``ApiTokenFactory(plain="…")``; by default a service token for the generation tool."""

    class Meta:
        model = ApiToken

    plain = factory.LazyFunction(lambda: "eap_" + secrets.token_urlsafe(32))
    name = "generation tool"
    token_hash = factory.LazyAttribute(lambda o: hash_token(o.plain))
    prefix = factory.LazyAttribute(lambda o: o.plain[:10])
    service_name = "generation-tool"
    scopes = "access:check"

    class Params:
        expired = factory.Trait(
            expires_at=factory.LazyFunction(lambda: utcnow() - dt.timedelta(minutes=1))
        )
        revoked = factory.Trait(revoked_at=factory.LazyFunction(utcnow))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        plain = kwargs.pop("plain", None)
        obj = super()._create(model_class, *args, **kwargs)
        obj.plain = plain
        return obj


class SubmissionFactory(BaseFactory):
    """An output-approval request, ``submitted`` with its deadline running, by an active member
    (``membership=...`` to choose whose). ``overdue=True``: submitted long enough ago that the
    deadline has passed. ``claimed_by=staff_user``: in review, claimed by that reviewer."""

    class Meta:
        model = Submission
        exclude = ("membership",)

    membership = factory.SubFactory(MembershipFactory)
    artist = factory.LazyAttribute(lambda o: o.membership.user)
    cohort = factory.LazyAttribute(lambda o: o.membership.cohort)
    terms = factory.LazyAttribute(lambda o: o.membership.accepted_terms)
    title = factory.Sequence(lambda n: f"Output {n}")
    description = "A short film made with the tool."
    output_ref = factory.Sequence(lambda n: f"gen://outputs/{n}")
    intended_use = "festival"
    venue = "Berlinale"
    submitted_at = factory.LazyFunction(utcnow)
    created_at = factory.LazyAttribute(lambda o: o.submitted_at)
    due_at = factory.LazyAttribute(
        lambda o: o.submitted_at + dt.timedelta(hours=o.membership.cohort.review_hours)
    )
    queue_at = factory.LazyAttribute(lambda o: o.due_at)
    claimed_by = None
    claimed_at = factory.LazyAttribute(lambda o: utcnow() if o.claimed_by else None)

    class Params:
        overdue = factory.Trait(
            submitted_at=factory.LazyFunction(lambda: utcnow() - dt.timedelta(days=30))
        )

    @factory.lazy_attribute
    def status(self):
        return "in_review" if self.claimed_by is not None else "submitted"


class PayoutAccountFactory(BaseFactory):
    """An artist's Stripe account, not onboarded; ``ready=True``: payouts enabled."""

    class Meta:
        model = PayoutAccount

    artist = factory.SubFactory(UserFactory)
    stripe_account_id = factory.Sequence(lambda n: f"acct_test{n:012d}")

    class Params:
        ready = factory.Trait(
            payouts_enabled=True, details_submitted=True, transfers_capability="active"
        )


class PayoutRunFactory(BaseFactory):
    class Meta:
        model = PayoutRun

    status = "executing"


class PayoutFactory(BaseFactory):
    """A payout in its own run, ``submitted`` by default; ``paid=True`` adds a transfer id (the
    ledger debit is the test's to write)."""

    class Meta:
        model = Payout

    run = factory.SubFactory(PayoutRunFactory)
    artist = factory.SubFactory(UserFactory)
    destination = factory.Sequence(lambda n: f"acct_dest{n:012d}")
    amount_minor = 5000
    currency = "USD"
    status = "submitted"
    idempotency_key = factory.Sequence(lambda n: f"payout-test-{n}")
    transfer_group = factory.Sequence(lambda n: f"payout-group-test-{n}")
    submitted_at = factory.LazyFunction(utcnow)

    class Params:
        paid = factory.Trait(
            status="paid",
            transfer_id=factory.Sequence(lambda n: f"tr_test{n:020d}"),
            paid_at=factory.LazyFunction(utcnow),
        )


# --- reviews' decisions and appeals, contributions and ledger entries ------------------------


class DecisionFactory(BaseFactory):
    """A reviewer's decision that took effect (``final``) on the request's current revision.
    The request's own status and times are the test's to set. ``deemed=True``: the system's
    deemed approval."""

    class Meta:
        model = Decision

    submission = factory.SubFactory(SubmissionFactory)
    revision = factory.LazyAttribute(lambda o: o.submission.revision)
    reviewer = factory.SubFactory(UserFactory, staff=True)
    outcome = "approved"
    state = "final"
    reason = ""
    clauses = factory.LazyFunction(list)
    decided_at = factory.LazyFunction(utcnow)

    class Params:
        deemed = factory.Trait(
            reviewer=None, outcome="deemed_approved", reason="review deadline passed"
        )


class AppealFactory(BaseFactory):
    """An appeal of a rejected request, waiting for a decision (set ``outcome`` to decide it)."""

    class Meta:
        model = Appeal

    submission = factory.SubFactory(SubmissionFactory, status="appealed")
    statement = "The clause cited does not apply to this output."
    filed_at = factory.LazyFunction(utcnow)


class ContributionFactory(BaseFactory):
    """An accepted contribution already priced (``amount_minor``); its ledger credit is
    ``LedgerEntryFactory(contribution=...)``."""

    class Meta:
        model = Contribution

    artist = factory.SubFactory(UserFactory)
    cohort_id = None
    kind = "bug_report"
    status = "accepted"
    severity = factory.LazyAttribute(
        lambda o: "low" if o.kind in ("bug_report", "red_team_finding") else None
    )
    title = factory.Sequence(lambda n: f"Contribution {n}")
    work_date = factory.LazyFunction(lambda: utcnow().date())
    amount_minor = 2000
    currency = "USD"
    decided_at = factory.LazyFunction(utcnow)


class LedgerEntryFactory(BaseFactory):
    """The ledger credit of a contribution, for its amount."""

    class Meta:
        model = LedgerEntry

    contribution = factory.SubFactory(ContributionFactory)
    artist_id = factory.LazyAttribute(lambda o: o.contribution.artist_id)
    kind = "credit"
    amount_minor = factory.LazyAttribute(lambda o: o.contribution.amount_minor)
    currency = factory.LazyAttribute(lambda o: o.contribution.currency)
    description = "Credit"

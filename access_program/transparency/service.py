"""The transparency report's figures (SPEC §3.12), program-wide and per public cohort.

Read-only. Every figure comes from a grouped query over the whole program (``GROUP BY`` cohort
and the figure's key), so a report takes the same dozen statements whether there are two cohorts
or two hundred; percentiles and medians are computed here from one query's rows because SQLite
has no ``percentile_cont``.

Nothing personal leaves this module: no names, emails or artist ids (artist ids are used only to
count distinct artists), no revocation reasons (only their categories). Pause reasons are public
program statements, except those of a cohort not yet announced (a draft): its pauses are listed
with their dates only.

In a cohort's report, counts from 1 to 4 become ``"<5"`` so that nobody can be singled out; 0 and
counts of 5 or more stay numbers. A masked count must not be recoverable from the figures beside
it, so within a group of counts that add up to a total (invitations by status, revocations by
category, requests by status, appeals by outcome):

* if any part is masked, the group's totals are withheld (None), and
* if exactly one part is masked, the smallest other non-zero part is withheld too, so that the
  masked parts can only be known as a sum of two unknowns.

Shares whose part, whole or rest (whole - part) is a count from 1 to 4, or a figure withheld, and
review-time percentiles resting on fewer than 5 decisions are withheld. Money follows the same
rule by artists: an amount paid in a currency to fewer than 5 artists (the total and the median),
and an amount credited for a kind of contribution that rests on 1 to 4 artists, are withheld, and
so is what would give a credited amount away (the currency's total and, when it is the only one,
one more kind's amount). Program-wide figures are exact.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import orm as so

from access_program.access.models import Grant, Pause, PauseScope, RevocationCategory
from access_program.audit.models import AuditEvent
from access_program.audit.service import head
from access_program.cohorts.models import (
    Cohort,
    CohortStatus,
    Invitation,
    InvitationStatus,
    Membership,
    MembershipStatus,
    PolicyClause,
)
from access_program.compensation.models import (
    Contribution,
    ContributionKind,
    EntryKind,
    LedgerEntry,
)
from access_program.db import db, utcnow
from access_program.errors import NotFound
from access_program.payouts.models import Payout, PayoutStatus
from access_program.reviews.models import (
    Appeal,
    Decision,
    DecisionState,
    Outcome,
    Status,
    Submission,
)

#: What a per-cohort count from 1 to SMALL_COUNT - 1 is shown as.
MASK = "<5"
SMALL_COUNT = 5
#: Draft cohorts are not announced: they get no report of their own (their rows, if any, still
#: count in the program-wide figures).
PUBLIC_COHORT_STATES = (CohortStatus.OPEN, CohortStatus.CLOSED)
TOP_CLAUSES = 5
#: A payout's transfer stands (in part, when ``amount_reversed`` is set) in these states.
PAID_STATES = (PayoutStatus.PAID, PayoutStatus.REVERSED)
#: Ledger entries that credit (or correct a credit of) a contribution.
CREDIT_ENTRIES = (EntryKind.CREDIT, EntryKind.ADJUSTMENT, EntryKind.CORRECTION)

#: A published count: a number, MASK, or None when withheld so that a masked count beside it
#: cannot be worked out.
Count = int | str | None
K = TypeVar("K", bound=Hashable)


# --- raw figures of one scope --------------------------------------------------------------


@dataclass
class PauseItem:
    scope: str
    cohort_id: int | None
    #: None for a cohort not yet announced, as is its reason.
    cohort_name: str | None
    reason: str | None
    started_at: dt.datetime
    expected_end_at: dt.datetime | None
    ended_at: dt.datetime | None


@dataclass
class Figures:
    """Unmasked figures of the program or of one cohort."""

    invitations: Counter[str] = field(default_factory=Counter)
    members: int = 0
    active_members: int = 0
    revocations: Counter[str] = field(default_factory=Counter)
    pauses: list[PauseItem] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    escalated: int = 0
    #: Hours from each revision's submission to the decision that answered it.
    review_hours: list[float] = field(default_factory=list)
    decided_in_time: int = 0
    appeals: Counter[str] = field(default_factory=Counter)
    #: (clause code, title) -> times cited by refusals and change requests that took effect.
    citations: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (contribution kind, currency) -> artist -> minor units, net of corrections. Ids never
    #: leave this module: they count the artists an amount rests on.
    credited: dict[tuple[str, str], Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    #: currency -> artist -> minor units paid (net of reversals). Ids never leave this module.
    paid: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))


class _Scopes(dict[int | None, Figures]):
    """Figures by cohort id; None is the whole program. A row of a public cohort counts in its
    cohort and in the program; any other row only in the program."""

    def for_row(self, cohort_id: int | None) -> list[Figures]:
        scopes = [self[None]]
        if cohort_id is not None and cohort_id in self:
            scopes.append(self[cohort_id])
        return scopes


# --- queries -------------------------------------------------------------------------------


def _public_cohorts() -> list[Any]:
    return list(
        db.session.execute(
            sa.select(Cohort.id, Cohort.name, Cohort.status)
            .where(Cohort.status.in_(list(PUBLIC_COHORT_STATES)))
            .order_by(Cohort.created_at, Cohort.id)
        )
    )


def _add_invitations(scopes: _Scopes, now: dt.datetime) -> None:
    # A pending invitation past its expiry is expired, whether or not the expiry job has run.
    # (The time is compared inside the aggregate, not grouped by: PostgreSQL would see two
    # different parameters in SELECT and GROUP BY.)
    stale = sa.func.sum(sa.case((Invitation.expires_at <= now, 1), else_=0))
    rows = db.session.execute(
        sa.select(Invitation.cohort_id, Invitation.status, sa.func.count(), stale).group_by(
            Invitation.cohort_id, Invitation.status
        )
    )
    for cohort_id, status, count, stale_count in rows:
        stale_count = int(stale_count or 0) if status == InvitationStatus.PENDING else 0
        for figures in scopes.for_row(cohort_id):
            figures.invitations[status] += count - stale_count
            figures.invitations[InvitationStatus.EXPIRED] += stale_count


def _add_members(scopes: _Scopes) -> None:
    active = sa.func.sum(sa.case((Membership.status == MembershipStatus.ACTIVE, 1), else_=0))
    rows = db.session.execute(
        sa.select(Membership.cohort_id, sa.func.count(), active).group_by(Membership.cohort_id)
    )
    for cohort_id, count, active_count in rows:
        # An artist has one membership per cohort and at most one active one: within a cohort
        # and for active members the counts add up; the program's distinct total is read below.
        for figures in scopes.for_row(cohort_id):
            figures.active_members += int(active_count or 0)
            if figures is not scopes[None]:
                figures.members += count
    scopes[None].members = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Membership.user_id)))
    )


def _add_revocations(scopes: _Scopes) -> None:
    rows = db.session.execute(
        sa.select(Membership.cohort_id, Grant.revoke_category, sa.func.count())
        .select_from(Grant)
        .join(Membership, Grant.membership_id == Membership.id)
        .where(Grant.revoked_at.is_not(None))
        .group_by(Membership.cohort_id, Grant.revoke_category)
    )
    for cohort_id, category, count in rows:
        for figures in scopes.for_row(cohort_id):
            figures.revocations[category] += count


def _add_pauses(scopes: _Scopes) -> None:
    rows = db.session.execute(
        sa.select(
            Pause.scope,
            Pause.cohort_id,
            Cohort.name,
            Pause.reason,
            Pause.started_at,
            Pause.expected_end_at,
            Pause.ended_at,
            Cohort.status,
        )
        .select_from(Pause)
        .outerjoin(Cohort, Pause.cohort_id == Cohort.id)
        .order_by(Pause.started_at.desc(), Pause.id.desc())
    )
    for *columns, cohort_status in rows:
        item = PauseItem(*columns)
        if item.scope != PauseScope.GLOBAL and cohort_status not in PUBLIC_COHORT_STATES:
            # A cohort not yet announced: the pause counts, with its dates, but its cohort's name
            # and its reason (which may name or describe the cohort) stay unpublished.
            item.cohort_name = None
            item.reason = None
        if item.scope == PauseScope.GLOBAL:
            # A program-wide pause stopped every cohort's access.
            for figures in scopes.values():
                figures.pauses.append(item)
        else:
            for figures in scopes.for_row(item.cohort_id):
                figures.pauses.append(item)


def _add_requests(scopes: _Scopes) -> None:
    escalated = sa.func.sum(sa.case((Submission.escalated_at.is_not(None), 1), else_=0))
    rows = db.session.execute(
        sa.select(Submission.cohort_id, Submission.status, sa.func.count(), escalated).group_by(
            Submission.cohort_id, Submission.status
        )
    )
    for cohort_id, status, count, escalated_count in rows:
        for figures in scopes.for_row(cohort_id):
            figures.requests[status] += count
            figures.escalated += int(escalated_count or 0)


def _revision_starts(submission_ids: set[int]) -> dict[tuple[int, int], dt.datetime]:
    """When each later revision of these requests was submitted, from their audit events (the
    request row keeps only its first and its current submission time)."""
    if not submission_ids:
        return {}
    rows = db.session.execute(
        sa.select(AuditEvent.subject_id, AuditEvent.occurred_at, AuditEvent.data).where(
            AuditEvent.action == "submission.revised",
            AuditEvent.subject_type == "submission",
            AuditEvent.subject_id.in_([str(i) for i in sorted(submission_ids)]),
        )
    )
    starts = {}
    for subject_id, occurred_at, data in rows:
        revision = (data or {}).get("revision")
        if isinstance(revision, int):
            starts[(int(subject_id), revision)] = occurred_at
    return starts


def _add_decisions(scopes: _Scopes) -> None:
    """Review times, decisions within the deadline and cited clauses, from every decision that
    took effect (reviewers' final decisions, confirmed rejections at their confirmation, and
    deemed approvals).

    A revision's clock starts when it was submitted and its deadline is that time plus the
    cohort's review hours; a deemed approval is by definition not decided within it.
    """
    rows = db.session.execute(
        sa.select(
            Submission.id,
            Submission.cohort_id,
            Submission.terms_id,
            Submission.revision.label("current_revision"),
            Submission.created_at,
            Submission.submitted_at,
            Cohort.review_hours,
            Decision.revision,
            Decision.outcome,
            Decision.decided_at,
            Decision.confirmed_at,
            Decision.clauses,
        )
        .select_from(Decision)
        .join(Submission, Decision.submission_id == Submission.id)
        .join(Cohort, Submission.cohort_id == Cohort.id)
        .where(Decision.state == DecisionState.FINAL)
    ).all()
    middle = {r.id for r in rows if r.revision not in (1, r.current_revision)}
    starts = _revision_starts(middle)
    titles = _clause_titles({r.terms_id for r in rows if r.clauses})
    for r in rows:
        if r.revision == r.current_revision:
            start = r.submitted_at
        elif r.revision == 1:
            start = r.created_at
        else:
            start = starts.get((r.id, r.revision))
        answered = r.confirmed_at or r.decided_at
        cited = [(code, titles.get((r.terms_id, code), "")) for code in r.clauses or []]
        for figures in scopes.for_row(r.cohort_id):
            figures.citations.update(cited)
            if start is None:
                continue  # a revision with no record of when it was submitted: not timed
            figures.review_hours.append(max((answered - start).total_seconds(), 0) / 3600)
            deadline = start + dt.timedelta(hours=r.review_hours)
            if r.outcome != Outcome.DEEMED_APPROVED and answered <= deadline:
                figures.decided_in_time += 1


def _clause_titles(terms_ids: set[int]) -> dict[tuple[int, str], str]:
    if not terms_ids:
        return {}
    rows = db.session.execute(
        sa.select(PolicyClause.terms_id, PolicyClause.code, PolicyClause.title).where(
            PolicyClause.terms_id.in_(sorted(terms_ids))
        )
    )
    return {(terms_id, code): title for terms_id, code, title in rows}


def _add_appeals(scopes: _Scopes) -> None:
    rows = db.session.execute(
        sa.select(Submission.cohort_id, Appeal.outcome, sa.func.count())
        .select_from(Appeal)
        .join(Submission, Appeal.submission_id == Submission.id)
        .group_by(Submission.cohort_id, Appeal.outcome)
    )
    for cohort_id, outcome, count in rows:
        for figures in scopes.for_row(cohort_id):
            figures.appeals[outcome or "pending"] += count


def _add_credits(scopes: _Scopes) -> None:
    """Money credited by contribution kind and artist: credits and adjustments, net of their
    corrections (a correction points at the entry it reverses, which names the contribution).

    Grouped by artist too, so that a cohort's report can tell how many artists an amount rests
    on: an artist whose credits of a kind were corrected away does not count."""
    reversed_entry = so.aliased(LedgerEntry)
    contribution_id = sa.func.coalesce(LedgerEntry.contribution_id, reversed_entry.contribution_id)
    rows = db.session.execute(
        sa.select(
            Contribution.cohort_id,
            Contribution.kind,
            LedgerEntry.currency,
            Contribution.artist_id,
            sa.func.sum(LedgerEntry.amount_minor),
        )
        .select_from(LedgerEntry)
        .outerjoin(reversed_entry, LedgerEntry.reverses_entry_id == reversed_entry.id)
        .join(Contribution, Contribution.id == contribution_id)
        .where(LedgerEntry.kind.in_(list(CREDIT_ENTRIES)))
        .group_by(
            Contribution.cohort_id,
            Contribution.kind,
            LedgerEntry.currency,
            Contribution.artist_id,
        )
    )
    for cohort_id, kind, currency, artist_id, amount in rows:
        for figures in scopes.for_row(cohort_id):
            # PostgreSQL sums to numeric.
            figures.credited[(kind, currency)][artist_id] += int(amount)


def _add_payouts(scopes: _Scopes) -> None:
    """Money paid per artist (net of reversals), counted in the cohort of the artist's latest
    membership: payouts pay a balance, not a cohort's or a contribution kind's share of it."""
    latest = (
        sa.select(Membership.user_id, sa.func.max(Membership.id).label("membership_id"))
        .group_by(Membership.user_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(
            Payout.artist_id,
            Payout.currency,
            Membership.cohort_id,
            sa.func.sum(Payout.amount_minor - Payout.amount_reversed),
        )
        .select_from(Payout)
        .outerjoin(latest, latest.c.user_id == Payout.artist_id)
        .outerjoin(Membership, Membership.id == latest.c.membership_id)
        .where(Payout.status.in_(list(PAID_STATES)))
        .group_by(Payout.artist_id, Payout.currency, Membership.cohort_id)
    )
    for artist_id, currency, cohort_id, amount in rows:
        if int(amount) <= 0:
            continue  # reversed in full: nothing was paid
        for figures in scopes.for_row(cohort_id):
            figures.paid[currency][artist_id] += int(amount)


def collect_figures() -> tuple[list[Any], _Scopes]:
    """The public cohorts and the unmasked figures of the program (key None) and of each."""
    now = utcnow()
    cohorts = _public_cohorts()
    scopes = _Scopes({None: Figures(), **{c.id: Figures() for c in cohorts}})
    _add_invitations(scopes, now)
    _add_members(scopes)
    _add_revocations(scopes)
    _add_pauses(scopes)
    _add_requests(scopes)
    _add_decisions(scopes)
    _add_appeals(scopes)
    _add_credits(scopes)
    _add_payouts(scopes)
    return cohorts, scopes


# --- arithmetic ----------------------------------------------------------------------------


def mask_count(count: int) -> Count:
    """A per-cohort count as published: 1 to 4 become "<5"; 0 and 5 or more stay numbers."""
    return MASK if is_small(count) else count


def is_small(count: int) -> bool:
    """Whether a per-cohort count, or the number of artists a figure rests on, is masked."""
    return 0 < count < SMALL_COUNT


def suppressed(parts: Mapping[K, int], hidden: set[K]) -> set[K]:
    """The parts of a group to leave out besides ``hidden`` ones, so that what is hidden cannot
    be worked out from the rest once the group's totals are withheld too.

    One hidden part would be its total minus the other parts: the total goes (the caller's
    part), and the smallest other non-zero part goes as well, so that what remains known is the
    sum of two unknowns (with no other non-zero part, there is nothing to add it to; withholding
    the total is enough). Two or more hidden parts already are such a sum."""
    if len(hidden) != 1:
        return set()
    others = [
        (abs(value), position, key)
        for position, (key, value) in enumerate(parts.items())
        if key not in hidden and value != 0
    ]
    return {min(others)[2]} if others else set()


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's ``percentile_cont``)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median_minor(amounts: Sequence[int]) -> int | None:
    """The median of amounts in minor units, in whole minor units (an even count's middle pair
    is averaged and rounded down): money is never a float."""
    if not amounts:
        return None
    ordered = sorted(amounts)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


# --- the published report ------------------------------------------------------------------


class _Publisher:
    """Turns one scope's figures into the published report, masking small counts per cohort."""

    def __init__(self, masked: bool, now: dt.datetime):
        self.masked = masked
        self.now = now

    def count(self, value: int) -> Count:
        return mask_count(value) if self.masked else value

    def group(self, parts: Mapping[K, int], *totals: int) -> tuple[dict[K, Count], list[Count]]:
        """Counts that add up to ``totals`` (each the sum of some of them), as published: small
        ones masked and, when any is, the totals and what else would reveal it withheld."""
        published = {key: self.count(value) for key, value in parts.items()}
        hidden = {key for key, value in published.items() if value == MASK}
        if not hidden:
            return published, [self.count(total) for total in totals]
        for key in suppressed(parts, hidden):
            published[key] = None
        return published, [None] * len(totals)

    def withheld(self, basis: int) -> bool:
        """Whether a share or a percentile resting on ``basis`` items must not be shown."""
        return basis == 0 or (self.masked and basis < SMALL_COUNT)

    def share(self, part: int, whole: int, *shown: Count) -> float | None:
        """``part / whole``; withheld when the part, the whole or the rest is a count from 1 to
        4, which it would reveal, or when any of the published counts it rests on (``shown``)
        is not shown."""
        if whole == 0:
            return None
        if self.masked and (
            is_small(part)
            or is_small(whole)
            or is_small(whole - part)
            or any(not isinstance(value, int) for value in shown)
        ):
            return None
        return round(part / whole, 4)

    def hours(self, values: list[float], fraction: float) -> float | None:
        if self.withheld(len(values)):
            return None
        value = percentile(values, fraction)
        return None if value is None else round(value, 1)

    def publish(self, f: Figures) -> dict[str, Any]:
        count = self.count
        invitations, (sent,) = self.group(
            {status: f.invitations[status] for status in InvitationStatus},
            sum(f.invitations.values()),
        )
        revocations, (revoked,) = self.group(
            {category: f.revocations[category] for category in RevocationCategory},
            sum(f.revocations.values()),
        )
        outcomes, (received,) = self.group(
            {status: f.requests[status] for status in Status}, sum(f.requests.values())
        )
        granted, upheld, pending = f.appeals["granted"], f.appeals["upheld"], f.appeals["pending"]
        appeals, (filed, decided) = self.group(
            {"pending": pending, "granted": granted, "upheld": upheld},
            pending + granted + upheld,
            granted + upheld,
        )
        artists_paid = len({a for by_artist in f.paid.values() for a in by_artist})
        return {
            "invitations": {"sent": sent, **{s.value: invitations[s] for s in InvitationStatus}},
            "members": {"active": count(f.active_members), "total": count(f.members)},
            "revocations": {
                "total": revoked,
                "by_category": {c.value: revocations[c] for c in RevocationCategory},
            },
            "pauses": [_pause(p, self.now) for p in f.pauses],
            "requests": {
                "received": received,
                "outcomes": {s.value: outcomes[s] for s in Status},
                "escalated": count(f.escalated),
                # The same count as the outcome's, so published the same way.
                "deemed_approved": outcomes[Status.DEEMED_APPROVED],
                "decisions": count(len(f.review_hours)),
                "decided_within_deadline": count(f.decided_in_time),
                "share_decided_within_deadline": self.share(f.decided_in_time, len(f.review_hours)),
                "median_hours_to_decision": self.hours(f.review_hours, 0.5),
                "p90_hours_to_decision": self.hours(f.review_hours, 0.9),
            },
            "appeals": {
                "filed": filed,
                **appeals,
                "decided": decided,
                "share_granted": self.share(granted, granted + upheld, *appeals.values(), decided),
            },
            "cited_clauses": [
                {"code": code, "title": title, "citations": count(n)}
                for (code, title), n in sorted(
                    f.citations.items(), key=lambda item: (-item[1], item[0])
                )[:TOP_CLAUSES]
            ],
            "money": {
                **self.money(f),
                "artists_paid": count(artists_paid),
                "artists": count(f.members),
                "share_of_artists_paid": self.share(artists_paid, f.members),
            },
        }

    def money(self, f: Figures) -> dict[str, Any]:
        """Credited by kind and in total, and paid, by currency. In a cohort's report an amount
        resting on 1 to 4 artists is withheld (None), and so is what would reveal it."""
        currencies = sorted({currency for _, currency in f.credited})
        credited, credited_total = [], []
        for currency in currencies:
            by_artist = {kind: f.credited[(kind, currency)] for kind in ContributionKind}
            amounts = {kind: sum(by_artist[kind].values()) for kind in ContributionKind}
            hidden: set[ContributionKind] = set()
            if self.masked:
                hidden = {
                    kind
                    for kind, artists in by_artist.items()
                    if is_small(sum(1 for amount in artists.values() if amount))
                }
                hidden |= suppressed(amounts, hidden)
            credited += [
                {
                    "kind": kind.value,
                    "currency": currency,
                    "amount_minor": None if kind in hidden else amounts[kind],
                }
                for kind in ContributionKind
            ]
            total = None if hidden else sum(amounts.values())
            credited_total.append({"currency": currency, "amount_minor": total})
        paid = []
        for currency, by_artist in sorted(f.paid.items()):
            if not by_artist:
                continue
            few = self.masked and len(by_artist) < SMALL_COUNT
            paid.append(
                {
                    "currency": currency,
                    "amount_minor": None if few else sum(by_artist.values()),
                    "median_per_paid_artist_minor": (
                        None if few else median_minor(list(by_artist.values()))
                    ),
                }
            )
        return {"credited_by_kind": credited, "credited_total": credited_total, "paid": paid}


def _pause(item: PauseItem, now: dt.datetime) -> dict[str, Any]:
    ended = item.ended_at
    length = (ended or now) - item.started_at
    return {
        "scope": item.scope,
        "cohort_name": item.cohort_name,
        "reason": item.reason,
        "started_at": item.started_at,
        "expected_end_at": item.expected_end_at,
        "ended_at": ended,
        "ongoing": ended is None,
        "duration_hours": round(length.total_seconds() / 3600, 1),
    }


def _cohort_ref(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "status": row.status}


def build_report(cohort_id: int | None = None) -> dict[str, Any]:
    """The published report of the program, or of one public cohort (404 for any other id).

    Program-wide figures are exact; a cohort's small counts are masked (see the module)."""
    cohorts, scopes = collect_figures()
    by_id = {c.id: c for c in cohorts}
    if cohort_id is not None and cohort_id not in by_id:
        raise NotFound(f"No cohort {cohort_id} in the transparency report.")
    seq, head_hash = head()
    masked = cohort_id is not None
    now = utcnow()
    return {
        "generated_at": now,
        "cohort": _cohort_ref(by_id[cohort_id]) if masked else None,
        "small_counts_masked": masked,
        "cohorts": [_cohort_ref(c) for c in cohorts],
        **_Publisher(masked, now).publish(scopes[cohort_id]),
        # The chain is one for the whole program: every report names its head.
        "audit": {"events": seq, "head_hash": head_hash},
    }

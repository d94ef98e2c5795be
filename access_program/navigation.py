"""What the navigation shows each role (the routes still check permissions themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for
from werkzeug.routing import BuildError

from access_program.accounts.models import Role, User


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


ARTIST_NAV = [
    ("Dashboard", "access.dashboard"),
    ("Requests", "reviews.my_requests"),
    ("Money", "compensation.money"),
    ("Terms", "cohorts.my_terms"),
    ("My record", "audit.my_record"),
]
STAFF_NAV = [
    ("Review queue", "reviews.queue"),
    ("Artists", "access.artists"),
    ("Contributions", "compensation.staff_contributions"),
]
ADMIN_NAV = [
    ("Cohorts", "cohorts.cohorts"),
    ("Terms", "cohorts.terms_list"),
    ("Artists", "access.artists"),
    ("Review queue", "reviews.queue"),
    ("Pauses", "access.pauses"),
    ("Contributions", "compensation.staff_contributions"),
    ("Payout runs", "payouts.runs"),
    ("Audit log", "audit.events"),
    ("Outbox", "outbox.messages"),
    ("Users & tokens", "accounts.users"),
]
NAV = {Role.ARTIST: ARTIST_NAV, Role.STAFF: STAFF_NAV, Role.ADMIN: ADMIN_NAV}


def nav_items(user: User | None) -> list[NavItem]:
    """The entries for this user's role; an entry whose page is not registered is left out,
    so the layout never links to a page that does not exist."""
    if user is None:
        return []
    items = []
    for label, endpoint in NAV[Role(user.role)]:
        try:
            url = url_for(endpoint)
        except BuildError:
            continue
        active = request.path == url or request.path.startswith(url + "/")
        items.append(NavItem(label, url, active))
    return items

"""What the navigation shows each role (the routes still check permissions themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for

from access_program.accounts.models import Role, User


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


ARTIST_NAV = [
    ("Dashboard", "access.dashboard"),
    ("Terms", "cohorts.my_terms"),
    ("My record", "audit.my_record"),
]
STAFF_NAV = [("Artists", "access.artists")]
ADMIN_NAV = [
    ("Cohorts", "cohorts.cohorts"),
    ("Terms", "cohorts.terms_list"),
    ("Artists", "access.artists"),
    ("Pauses", "access.pauses"),
    ("Audit log", "audit.events"),
    ("Outbox", "outbox.messages"),
    ("Users & tokens", "accounts.users"),
]


def nav_items(user: User | None) -> list[NavItem]:
    if user is None:
        return []
    entries = {Role.ARTIST: ARTIST_NAV, Role.STAFF: STAFF_NAV, Role.ADMIN: ADMIN_NAV}[
        Role(user.role)
    ]
    items = []
    for label, endpoint in entries:
        url = url_for(endpoint)
        items.append(NavItem(label, url, request.path == url or request.path.startswith(url + "/")))
    return items

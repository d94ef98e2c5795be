"""Refresh docs/screenshots/: the main pages, as Chromium shows them, on fresh demo data.

    .venv/bin/python scripts/screenshots.py        (or `make screenshots`)

Builds a SQLite database in a temporary folder (migrations, then the demo seed with 40 artists),
opens a global pause so the artist pages show the banner, serves the app on a free loopback port
and saves a PNG of each page with Debian's Chromium (/usr/bin/chromium) through Playwright.
"""

from __future__ import annotations

import datetime as dt
import socket
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from access_program import create_app  # noqa: E402
from access_program.access import service as access  # noqa: E402
from access_program.accounts import service as accounts  # noqa: E402
from access_program.cohorts import service as cohorts  # noqa: E402
from access_program.cohorts.models import Cohort  # noqa: E402
from access_program.db import db, unit_of_work, utcnow  # noqa: E402
from access_program.demo import ADMIN, ARTIST_PASSWORD, DEMO_COHORT, STAFF, seed  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAUSE_REASON = "Safety review of the new model release after a reported misuse; back soon."
VIEWPORT = {"width": 1200, "height": 900}
MAX_HEIGHT = 2200  # px: long pages are cut here


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(app) -> tuple[int, str]:
    """Demo data, an open global pause, and a fresh invitation; returns (cohort id, its token)."""
    with app.app_context():
        upgrade()
        with unit_of_work():
            seed(artists=40, pending=5)
            admin = accounts.get_user_by_email(ADMIN[0])
            cohort = db.session.scalar(db.select(Cohort).where(Cohort.name == DEMO_COHORT))
            _, token = cohorts.invite_artist(admin.actor, cohort, "maya.okafor@example.org")
            access.start_pause(
                admin.actor,
                scope="global",
                reason=PAUSE_REASON,
                expected_end_at=utcnow() + dt.timedelta(days=2),
            )
        return cohort.id, token


def shoot(page, name: str, max_height: int = MAX_HEIGHT) -> None:
    page.wait_for_load_state("networkidle")
    height = min(page.evaluate("document.documentElement.scrollHeight"), max_height)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)
    print(f"saved {path.relative_to(ROOT)}")


def sign_in(browser, base: str, email: str, password: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    return page


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        app = create_app(
            "development",
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(tmp) / 'demo.sqlite'}",
            PUBLIC_BASE_URL=base,
            SECRET_KEY="screenshots-only",
        )
        cohort_id, token = prepare(app)
        server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                anonymous = browser.new_context(viewport=VIEWPORT).new_page()
                anonymous.goto(f"{base}/login")
                shoot(anonymous, "01-sign-in")
                anonymous.goto(f"{base}/invitations/{token}")
                shoot(anonymous, "05-invitation", max_height=4000)  # down to the form

                anonymous.goto(f"{base}/transparency")
                shoot(anonymous, "07-transparency", max_height=4000)

                artist = sign_in(browser, base, "artist001@example.org", ARTIST_PASSWORD)
                artist.goto(f"{base}/dashboard")
                shoot(artist, "02-artist-dashboard-paused")
                artist.goto(f"{base}/money")
                shoot(artist, "08-artist-money")

                staff = sign_in(browser, base, STAFF[0], STAFF[2])
                staff.goto(f"{base}/staff/review-queue")
                shoot(staff, "09-staff-review-queue")

                admin = sign_in(browser, base, ADMIN[0], ADMIN[2])
                admin.goto(f"{base}/admin/cohorts/{cohort_id}")
                shoot(admin, "03-admin-cohort")
                admin.goto(f"{base}/admin/pauses")
                shoot(admin, "04-admin-pauses")
                admin.goto(f"{base}/admin/audit")
                shoot(admin, "06-admin-audit-log")
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
            with app.app_context():
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

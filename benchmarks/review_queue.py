"""Review-queue first page: 300 artists × 100 requests each against 300 requests in total.

    .venv/bin/python benchmarks/review_queue.py                 (SQLite and PostgreSQL)
    .venv/bin/python benchmarks/review_queue.py --runs 10 --databases sqlite     (quicker)

Issue bar: the first page of the review queue takes at most 1.5× as long with 30,000 requests
(300 artists × 100) as with 300 requests in total, on SQLite and on PostgreSQL, measured in one
run. For each database it builds two datasets side by side, "small" (300 requests) and "large"
(30,000): SQLite in two temporary files, PostgreSQL in two schemas of its own database
``bench_reviews`` (dropped and re-created; BENCH_REVIEWS_URL overrides it). Each dataset is
migrated with the project's migrations and filled with executemany inserts.

What is timed is one whole request through the Flask test client (routing, bearer-token check,
the queries, serialization): ``GET /api/v1/review-queue`` with a staff token (the JSON API, the
measure the bar is judged on), and, as a second row, the staff HTML page ``/staff/review-queue``
with a signed-in session. Small and large alternate request by request (after a warm-up), so
load from elsewhere on the machine hits both alike; the median of --runs requests each is
compared.

Two mixes of states are measured:
- ``realistic``: per 100 requests of an artist, 4 open (2 submitted, 2 in review, a quarter of
  them overdue), 1 appealed, the rest decided or withdrawn (the queue holds 15 of the small
  dataset's requests, 1,500 of the large one's);
- ``all-open``: every request waits on staff (300 against 30,000 in the queue), the worst case.

Exit code 1 if a ratio on the API is above the bar.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from access_program import create_app  # noqa: E402
from access_program.accounts import service as accounts  # noqa: E402
from access_program.accounts.models import User  # noqa: E402
from access_program.audit.service import Actor  # noqa: E402
from access_program.cohorts.models import Cohort, Membership, Terms  # noqa: E402
from access_program.db import db, utcnow  # noqa: E402
from access_program.reviews.models import Submission  # noqa: E402

PG_URL = os.environ.get(
    "BENCH_REVIEWS_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_reviews"
)
BAR = 1.5
ARTISTS = 300
PER_ARTIST = 100
API_URL = "/api/v1/review-queue"
PAGE_URL = "/staff/review-queue"
#: flask-smorest's default page size (the API's first page) and the HTML page's.
API_PAGE = 10
PAGE_PER_PAGE = 50
USES = ("social_post", "festival", "exhibition", "portfolio", "press", "commercial", "other")

#: Per 100 requests of one artist (the "realistic" mix).
REALISTIC = (
    ["submitted"] * 2
    + ["in_review"] * 2
    + ["appealed"]
    + ["approved"] * 70
    + ["deemed_approved"] * 3
    + ["changes_requested"] * 7
    + ["rejected"] * 6
    + ["appeal_granted", "appeal_upheld"]
    + ["withdrawn"] * 7
)
assert len(REALISTIC) == PER_ARTIST
OPEN = {"submitted", "in_review"}


@dataclass
class Dataset:
    name: str
    artists: int
    per_artist: int
    app: object = None
    token: str = ""
    staff_session_id: str = ""
    queued: int = 0
    api_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    api_statements: int = 0
    page_statements: int = 0

    def first_page_rows(self, target: str) -> int:
        per_page = API_PAGE if target == "API" else PAGE_PER_PAGE
        return min(per_page, self.queued)


@dataclass
class Row:
    database: str
    mix: str
    target: str
    small: Dataset
    large: Dataset
    note: str = ""

    def times(self, d: Dataset) -> list[float]:
        return d.api_ms if self.target == "API" else d.page_ms

    @property
    def small_ms(self) -> float:
        return statistics.median(self.times(self.small))

    @property
    def large_ms(self) -> float:
        return statistics.median(self.times(self.large))

    @property
    def ratio(self) -> float:
        return self.large_ms / self.small_ms


# --- building a dataset ---------------------------------------------------------------------


def status_of(mix: str, index: int) -> str:
    return "submitted" if mix == "all-open" else REALISTIC[index % PER_ARTIST]


def fill(dataset: Dataset, mix: str) -> None:
    """Migrate, then insert the people and requests with executemany."""
    from flask_migrate import upgrade

    now = utcnow()
    with dataset.app.app_context():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            upgrade()
        conn = db.session.connection()
        terms_id = conn.execute(
            sa.insert(Terms.__table__).returning(Terms.__table__.c.id),
            {"label": "v1", "body": "Terms.", "status": "published", "published_at": now},
        ).scalar_one()
        cohort_id = conn.execute(
            sa.insert(Cohort.__table__).returning(Cohort.__table__.c.id),
            {"name": "Cohort", "status": "open", "terms_id": terms_id, "review_hours": 72},
        ).scalar_one()
        conn.execute(
            sa.insert(User.__table__),
            [
                {"email": f"artist{i:03d}@example.org", "name": f"Artist {i}", "role": "artist"}
                for i in range(dataset.artists)
            ]
            + [{"email": "staff@example.org", "name": "Staff", "role": "staff"}],
        )
        users = dict(conn.execute(sa.select(User.__table__.c.email, User.__table__.c.id)).all())
        staff_id = users["staff@example.org"]
        artist_ids = [users[f"artist{i:03d}@example.org"] for i in range(dataset.artists)]
        conn.execute(
            sa.insert(Membership.__table__),
            [
                {
                    "cohort_id": cohort_id,
                    "user_id": uid,
                    "status": "active",
                    "accepted_terms_id": terms_id,
                }
                for uid in artist_ids
            ],
        )
        rows = []
        index = 0
        for artist_id in artist_ids:
            for _ in range(dataset.per_artist):
                status = status_of(mix, index)
                # Spread over the last 60 days; open ones over the review window (some overdue).
                created = now - dt.timedelta(minutes=(index * 7919) % (60 * 24 * 60))
                row = {
                    "artist_id": artist_id,
                    "cohort_id": cohort_id,
                    "terms_id": terms_id,
                    "title": f"Output {index}",
                    "output_ref": f"gen://outputs/{index}",
                    "intended_use": USES[index % len(USES)],
                    "venue": "Somewhere",
                    "status": status,
                    "created_at": created,
                    "submitted_at": created,
                    "due_at": None,
                    "queue_at": None,
                    "claimed_by_id": None,
                    "decided_at": None,
                }
                if status in OPEN:
                    submitted = now - dt.timedelta(minutes=(index * 104729) % (96 * 60))
                    row["submitted_at"] = row["created_at"] = submitted
                    row["due_at"] = row["queue_at"] = submitted + dt.timedelta(hours=72)
                    if status == "in_review":
                        row["claimed_by_id"] = staff_id
                elif status == "appealed":
                    row["queue_at"] = now + dt.timedelta(minutes=(index * 31) % (72 * 60))
                elif status not in ("withdrawn", "changes_requested"):
                    row["decided_at"] = created + dt.timedelta(hours=5)
                rows.append(row)
                index += 1
        conn.execute(sa.insert(Submission.__table__), rows)
        dataset.queued = sum(1 for r in rows if r["queue_at"] is not None)
        staff = db.session.get(User, staff_id)
        _, dataset.token = accounts.create_token(Actor.system("benchmark"), user=staff)
        dataset.staff_session_id = staff.get_id()
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.remove()
            with db.engine.connect() as c:
                c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        db.session.remove()


# --- timing ---------------------------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *args, **kwargs) -> None:
        self.n += 1


def timed_get(dataset: Dataset, target: str) -> tuple[float, int]:
    """One request, timed; returns (milliseconds, SQL statements)."""
    app = dataset.app
    client = app.test_client()
    headers = {}
    if target == "API":
        headers = {"Authorization": f"Bearer {dataset.token}", "Accept": "application/json"}
        url = API_URL
    else:
        url = PAGE_URL
        with client.session_transaction() as session:
            session["_user_id"] = dataset.staff_session_id
            session["_fresh"] = True
    counter = Counter()
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - start) * 1000
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    if response.status_code != 200:
        raise RuntimeError(f"{target} {url} answered {response.status_code}")
    if target == "API" and len(response.get_json()) != dataset.first_page_rows("API"):
        raise RuntimeError(f"unexpected first page: {len(response.get_json())} items")
    return elapsed, counter.n


def measure(small: Dataset, large: Dataset, runs: int, targets: list[str]) -> None:
    for target in targets:
        for _ in range(5):  # warm-up: caches, compiled statements, the token's first use
            timed_get(small, target)
            timed_get(large, target)
    for i in range(runs):
        pair = (small, large) if i % 2 == 0 else (large, small)
        for target in targets:
            for dataset in pair:
                ms, statements = timed_get(dataset, target)
                if target == "API":
                    dataset.api_ms.append(ms)
                    dataset.api_statements = statements
                else:
                    dataset.page_ms.append(ms)
                    dataset.page_statements = statements


# --- one database -------------------------------------------------------------------------


def make_app(url: str, schema: str | None):
    options: dict = {"pool_pre_ping": True}
    if schema:
        options["connect_args"] = {"options": f"-csearch_path={schema}"}
    return create_app(
        "development",
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=options,
        SECRET_KEY="benchmark-only",
    )


def page_exists(app) -> bool:
    return any(rule.rule == PAGE_URL for rule in app.url_map.iter_rules())


def run_database(name: str, mix: str, runs: int, workdir: Path) -> list[Row]:
    small = Dataset("small", ARTISTS, 1)
    large = Dataset("large", ARTISTS, PER_ARTIST)
    if name == "sqlite":
        small.app = make_app(f"sqlite:///{workdir / f'small-{mix}.sqlite'}", None)
        large.app = make_app(f"sqlite:///{workdir / f'large-{mix}.sqlite'}", None)
    else:
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            for d in ("small", "large"):
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {d}_{mix.replace('-', '_')} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {d}_{mix.replace('-', '_')}")
        engine.dispose()
        small.app = make_app(PG_URL, f"small_{mix.replace('-', '_')}")
        large.app = make_app(PG_URL, f"large_{mix.replace('-', '_')}")
    for dataset in (small, large):
        started = time.perf_counter()
        fill(dataset, mix)
        print(
            f"[{name}/{mix}] {dataset.name}: {dataset.artists * dataset.per_artist:,} requests,"
            f" {dataset.queued:,} in the queue, built in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    targets = ["API"] + (["HTML page"] if page_exists(small.app) else [])
    measure(small, large, runs, targets)
    rows = [Row(name, mix, t, small, large) for t in targets]
    for app in (small.app, large.app):
        with app.app_context():
            db.engine.dispose()
    return rows


def create_pg_database() -> str | None:
    """Drop and create ``bench_reviews``; a reason if PostgreSQL is not reachable."""
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pgdb.py"), "recreate", PG_URL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["unknown error"])[-1]
    return None


# --- report ---------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    lines = [
        "| database | mix | what | in the queue small / large | first-page rows small / large "
        f"| median small | median large | ratio (bar ≤ {BAR}) | SQL statements small / large |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        statements = (
            f"{r.small.api_statements} / {r.large.api_statements}"
            if r.target == "API"
            else f"{r.small.page_statements} / {r.large.page_statements}"
        )
        lines.append(
            f"| {r.database} | {r.mix} | {r.target} | {r.small.queued:,} / {r.large.queued:,} "
            f"| {r.small.first_page_rows(r.target)} / {r.large.first_page_rows(r.target)} "
            f"| {r.small_ms:.2f} ms | {r.large_ms:.2f} ms | {r.ratio:.2f} | {statements} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed requests per dataset")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--mixes", default="realistic,all-open")
    args = parser.parse_args(argv)
    runs = max(3, min(args.runs, 1000))
    rows: list[Row] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-reviews-") as tmp:
        for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
            if name not in ("sqlite", "postgres"):
                parser.error(f"unknown database {name!r}")
            if name == "postgres":
                problem = create_pg_database()
                if problem:
                    skipped.append(f"postgres skipped: {problem}")
                    continue
            for mix in [m.strip() for m in args.mixes.split(",") if m.strip()]:
                if mix not in ("realistic", "all-open"):
                    parser.error(f"unknown mix {mix!r}")
                rows += run_database(name, mix, runs, Path(tmp))
    print()
    print(f"Median of {runs} requests each, small and large alternating.")
    print(table(rows))
    for line in skipped:
        print(line, file=sys.stderr)
    failed = [r for r in rows if r.target == "API" and r.ratio > BAR]
    if failed:
        print(
            "ABOVE THE BAR: " + ", ".join(f"{r.database}/{r.mix} {r.ratio:.2f}" for r in failed),
            file=sys.stderr,
        )
        return 1
    print(f"API ratios within the bar (≤ {BAR}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

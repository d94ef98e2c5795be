"""A payout run of 300 payouts against 300 bare ``stripe`` transfer calls to the same emulator.

    .venv/bin/python benchmarks/payout_run.py                          (SQLite and PostgreSQL)
    .venv/bin/python benchmarks/payout_run.py --rounds 3 --databases sqlite          (quicker)

Issue bar (issue 4): executing a run of 300 payouts takes at most 2.0× the time of 300 bare
``stripe`` transfer calls to the same emulator, measured in one run, on SQLite and PostgreSQL.

One Stripe emulator (no webhooks) serves both sides: by default from a process of its own (Stripe
is remote, and `make run` starts the emulator as its own process too); ``--emulator thread``
serves it from a thread of this process instead, where it shares the interpreter lock with the
code measured. For each database (SQLite in a temporary file; PostgreSQL in its own database
``bench_payouts``, dropped and re-created; BENCH_PAYOUTS_URL overrides it) the project's
migrations build the schema, then 300 artists are seeded: members of one cohort with accepted
terms, a payout account whose Express account was created through the emulator's API and
onboarded, and, before each round, one accepted contribution credited to the ledger.

Timed, in each round:
- *bare*: 300 calls of ``gateway.create_transfer`` (the app's own Stripe call: the official
  client, a fixed idempotency key, the same parameters and metadata) and nothing else;
- *run*: ``create_run`` (the preview: balances, accounts, minimums, one pending payout per
  artist, audit) and its commit, then ``execute_run`` (waves of payouts committed as submitted,
  the Stripe calls, then each payout paid with the ledger debit, the audit event and the email;
  then the run finished). The execution alone is reported beside it.
The two alternate order from round to round, so load from elsewhere on the machine hits both
alike; the ratio of each round is reported, and the median ratio is judged against the bar.

Exit code 1 if a median ratio is above the bar.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from access_program import create_app  # noqa: E402
from access_program.accounts.models import User  # noqa: E402
from access_program.cohorts.models import (  # noqa: E402
    Cohort,
    Membership,
    RateCard,
    Terms,
    TermsAcceptance,
)
from access_program.compensation.models import Contribution, LedgerEntry  # noqa: E402
from access_program.db import db, utcnow  # noqa: E402
from access_program.payouts import gateway  # noqa: E402
from access_program.payouts import service as payouts  # noqa: E402
from access_program.payouts.emulator import EmulatorServer  # noqa: E402
from access_program.payouts.models import PayoutAccount  # noqa: E402

PG_URL = os.environ.get(
    "BENCH_PAYOUTS_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_payouts"
)
BAR = 2.0
ARTISTS = 300
AMOUNT = 5000


@dataclass
class Result:
    database: str
    bare: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    preview: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [run / bare for run, bare in zip(self.run, self.bare, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def execute_ratio(self) -> float:
        return statistics.median(
            (run - preview) / bare
            for run, preview, bare in zip(self.run, self.preview, self.bare, strict=True)
        )


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *args, **kwargs) -> None:
        self.count += 1


def make_app(url: str, emulator_url: str):
    return create_app(
        "development",
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY="benchmark-only",
        STRIPE_API_BASE=emulator_url,
        STRIPE_SECRET_KEY="sk_test_benchmark",
        STRIPE_TIMEOUT=20.0,
        STRIPE_MAX_RETRIES=2,
    )


def seed(emulator_url: str) -> tuple[int, int, list[int], list[str]]:
    """Migrate, then 300 members with ready payout accounts; (admin, cohort, artists, accounts)."""
    from flask_migrate import upgrade

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upgrade()
    admin = User(email="admin@bench.example", name="Bench admin", role="admin")
    terms = Terms(label="bench terms", body="Benchmark.", status="published", published_at=utcnow())
    terms.rate_card = RateCard(
        currency="USD",
        feedback_hour=5000,
        bug_low=AMOUNT,
        bug_medium=AMOUNT,
        bug_high=AMOUNT,
        bug_critical=AMOUNT,
        red_team_low=AMOUNT,
        red_team_medium=AMOUNT,
        red_team_high=AMOUNT,
        red_team_critical=AMOUNT,
        approved_output=0,
        marketing_use=AMOUNT,
        monthly_stipend=AMOUNT,
        minimum_payout=2500,
    )
    cohort = Cohort(name="Bench cohort", status="open", capacity=ARTISTS, terms=terms)
    artists = [
        User(email=f"artist{i}@bench.example", name=f"Artist {i}", role="artist")
        for i in range(ARTISTS)
    ]
    db.session.add_all([admin, cohort, *artists])
    db.session.flush()
    memberships = [
        Membership(cohort_id=cohort.id, user_id=a.id, accepted_terms_id=terms.id, status="active")
        for a in artists
    ]
    db.session.add_all(memberships)
    db.session.flush()
    accepted = utcnow() - dt.timedelta(days=30)
    db.session.add_all(
        TermsAcceptance(
            membership_id=m.id, user_id=m.user_id, terms_id=terms.id, accepted_at=accepted
        )
        for m in memberships
    )
    destinations = []
    for artist in artists:
        account = gateway.create_express_account(
            artist.email, idempotency_key=f"bench-account-{uuid.uuid4().hex}"
        )
        onboarded = requests.post(
            f"{emulator_url}/_emulator/accounts/{account.id}/complete-onboarding", timeout=10
        )
        onboarded.raise_for_status()
        destinations.append(account.id)
        db.session.add(
            PayoutAccount(
                artist_id=artist.id,
                stripe_account_id=account.id,
                payouts_enabled=True,
                details_submitted=True,
                transfers_capability="active",
            )
        )
    db.session.commit()
    return admin.id, cohort.id, [a.id for a in artists], destinations


def credit_everyone(artist_ids: list[int], terms_id: int) -> None:
    """One accepted bug report each, credited to the ledger (not timed)."""
    today = utcnow().date()
    contributions = [
        Contribution(
            artist_id=artist_id,
            kind="bug_report",
            status="accepted",
            severity="medium",
            title="A bug",
            work_date=today,
            terms_id=terms_id,
            amount_minor=AMOUNT,
            currency="USD",
        )
        for artist_id in artist_ids
    ]
    db.session.add_all(contributions)
    db.session.flush()
    db.session.add_all(
        LedgerEntry(
            artist_id=c.artist_id,
            kind="credit",
            amount_minor=AMOUNT,
            currency="USD",
            description="Bug report",
            contribution_id=c.id,
            terms_id=terms_id,
        )
        for c in contributions
    )
    db.session.commit()


def bare_transfers(destinations: list[str]) -> float:
    started = time.perf_counter()
    for index, destination in enumerate(destinations):
        key = f"bench-bare-{uuid.uuid4().hex}"
        gateway.create_transfer(
            amount=AMOUNT,
            currency="USD",
            destination=destination,
            transfer_group=key,
            idempotency_key=key,
            metadata={"payout_id": str(index), "run_id": "0", "payout_key": key},
        )
    return time.perf_counter() - started


def payout_run(
    admin_id: int, cohort_id: int, counter: StatementCounter
) -> tuple[float, float, int]:
    """(seconds for the whole run, seconds for the preview, SQL statements)."""
    admin = db.session.get(User, admin_id)
    cohort = db.session.get(Cohort, cohort_id)
    counter.count = 0
    started = time.perf_counter()
    run = payouts.create_run(admin, cohort)
    db.session.commit()
    previewed = time.perf_counter()
    run, result = payouts.execute_run(admin, run)
    elapsed = time.perf_counter() - started
    if (run.status, result.paid) != ("finished", ARTISTS):
        raise SystemExit(f"the run did not pay everyone: {run.status}, {result}")
    return elapsed, previewed - started, counter.count


def run_database(name: str, url: str, emulator_url: str, rounds: int) -> Result:
    app = make_app(url, emulator_url)
    result = Result(name)
    counter = StatementCounter()
    with app.app_context():
        started = time.perf_counter()
        admin_id, cohort_id, artist_ids, destinations = seed(emulator_url)
        terms_id = db.session.get(Cohort, cohort_id).terms_id
        print(f"[{name}] seeded {ARTISTS} artists in {time.perf_counter() - started:.1f} s")
        sa.event.listen(db.engine, "before_cursor_execute", counter)
        bare_transfers(destinations[:20])  # warm-up: connections, imports, caches
        for round_no in range(rounds):
            credit_everyone(artist_ids, terms_id)
            if round_no % 2 == 0:
                bare = bare_transfers(destinations)
                run, preview, statements = payout_run(admin_id, cohort_id, counter)
            else:
                run, preview, statements = payout_run(admin_id, cohort_id, counter)
                bare = bare_transfers(destinations)
            result.bare.append(bare)
            result.run.append(run)
            result.preview.append(preview)
            result.statements.append(statements)
            print(
                f"[{name}] round {round_no + 1}: bare {bare:.2f} s, run {run:.2f} s"
                f" (preview {preview:.2f} s), ratio {run / bare:.2f}",
                flush=True,
            )
        sa.event.remove(db.engine, "before_cursor_execute", counter)
        db.session.remove()
        db.engine.dispose()
    return result


def _serve_emulator(connection) -> None:
    """In a process of its own: serve the emulator until told to stop."""
    logging.getLogger("access_program.payouts.emulator").setLevel(logging.WARNING)
    with EmulatorServer() as server:
        connection.send(server.url)
        connection.recv()


@contextmanager
def emulator_server(mode: str) -> Iterator[str]:
    """The emulator's URL: served from its own process (as Stripe is remote, and as `make run`
    starts it), or from a thread of this one (sharing its interpreter lock)."""
    if mode == "thread":
        with EmulatorServer() as server:
            yield server.url
        return
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_emulator, args=(child,), daemon=True
    )
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(10)


def recreate_pg_database() -> str | None:
    """Drop and create ``bench_payouts``; a reason if PostgreSQL is not reachable."""
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


def table(results: list[Result]) -> str:
    lines = [
        "| database | payouts | 300 bare transfers | create_run + execute_run | of which the"
        " preview | ratio per round | median ratio (bar ≤ 2.0) | execute_run alone: median ratio"
        " | SQL statements per payout |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | {ARTISTS} | {statistics.median(r.bare):.2f} s"
            f" | {statistics.median(r.run):.2f} s | {statistics.median(r.preview):.2f} s"
            f" | {', '.join(f'{x:.2f}' for x in r.ratios)} | {r.ratio:.2f}"
            f" | {r.execute_ratio:.2f} | {statistics.median(r.statements) / ARTISTS:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per database")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--emulator",
        choices=["process", "thread"],
        default="process",
        help="serve the emulator from its own process (default) or from a thread of this one",
    )
    args = parser.parse_args(argv)
    rounds = max(1, min(args.rounds, 50))
    # The emulator logs each request at INFO; 600 lines a round would drown the figures.
    logging.getLogger("access_program.payouts.emulator").setLevel(logging.WARNING)
    results: list[Result] = []
    skipped: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-payouts-") as tmp,
        emulator_server(args.emulator) as emulator_url,
    ):
        logging.getLogger("access_program.payouts.emulator").setLevel(logging.WARNING)
        for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
            if name == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'payouts.sqlite'}"
            elif name == "postgres":
                problem = recreate_pg_database()
                if problem:
                    skipped.append(f"postgres skipped: {problem}")
                    continue
                url = PG_URL
            else:
                parser.error(f"unknown database {name!r}")
            results.append(run_database(name, url, emulator_url, rounds))
    print()
    print(
        f"{rounds} rounds per database, the emulator in a {args.emulator}; bare and run"
        " alternate their order from round to round (times are medians)."
    )
    print(table(results))
    for line in skipped:
        print(line, file=sys.stderr)
    failed = [r for r in results if r.ratio > BAR]
    if failed:
        print(
            "ABOVE THE BAR: " + ", ".join(f"{r.database} {r.ratio:.2f}" for r in failed),
            file=sys.stderr,
        )
        return 1
    print(f"Median ratios within the bar (≤ {BAR}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

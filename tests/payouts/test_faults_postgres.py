"""Exactly once across processes (PostgreSQL): `flask payouts execute` twice at once, and killed
with SIGKILL mid-run then resumed.

The executors are real processes (``python -m flask --app app payouts execute RUN_ID``) talking
to the test database and to the emulator over HTTP. Each test ends by comparing the app's
payouts with the emulator's transfer log and checking that nothing payable is left unpaid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.audit.service import verify_chain
from access_program.payouts import service
from access_program.payouts.models import Payout, PayoutStatus
from tests.factories import CohortFactory, UserFactory

from .runs_support import assert_exactly_once, assert_nothing_payable_left, payable_artist

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PROCESS_TIMEOUT = 120


@pytest.fixture
def seeded(committed_db, stripe_client, stripe_emulator):
    """``seeded(n)``: n artists with a balance and a ready account, and a run paying them."""

    def make(count: int):
        admin = UserFactory(admin=True)
        cohort = CohortFactory()
        artists = [
            payable_artist(stripe_client, stripe_emulator, cohort=cohort, amount_minor=3000 + i)
            for i in range(count)
        ]
        run = service.create_run(admin, cohort)
        committed_db.session.commit()
        return run.id, artists

    return make


class Executor:
    """One `flask payouts execute RUN_ID` process; its output goes to files (no pipe to fill)."""

    def __init__(self, tmp_path: Path, name: str, run_id: int, env: dict[str, str]) -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "flask",
                    "--app",
                    "app",
                    "payouts",
                    "execute",
                    str(run_id),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=err,
            )

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=PROCESS_TIMEOUT)

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()[-3000:]


@pytest.fixture
def executor(app, stripe_emulator, tmp_path):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    started: list[Executor] = []

    def start(run_id: int, *, timeout: float = 5.0, retries: int = 2) -> Executor:
        env = {
            **os.environ,
            "APP_CONFIG": "testing",
            "DATABASE_URL": url,
            "TEST_DATABASE_URL": url,
            "STRIPE_API_BASE": stripe_emulator.url,
            "STRIPE_TIMEOUT": str(timeout),
            "STRIPE_MAX_RETRIES": str(retries),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        process = Executor(tmp_path, f"executor-{len(started)}", run_id, env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.kill()


def delay_transfers(emulator, seconds: float, count: int) -> None:
    emulator.emulator.add_faults(
        {"path_prefix": "/v1/transfers", "delay_seconds": seconds, "delay_next": count}
    )


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_two_executions_of_one_run_at_once_pay_each_payout_once(
    committed_db, seeded, executor, stripe_emulator
):
    count = 2 * service.WAVE + 10  # more than one wave each
    run_id, artists = seeded(count)
    delay_transfers(stripe_emulator, 0.05, count)  # both processes are at work at the same time

    first, second = executor(run_id), executor(run_id)
    codes = [first.wait(), second.wait()]

    assert codes == [0, 0], first.output() + second.output()
    payouts = assert_exactly_once(stripe_emulator)
    assert [p.attempts for p in payouts] == [1] * count  # no payout was ever worked twice
    assert_nothing_payable_left(artists)
    session = committed_db.session
    paid = session.scalars(
        sa.select(AuditEvent.artist_id).where(AuditEvent.action == "payout.paid")
    ).all()
    assert sorted(paid) == sorted(a.id for a in artists)
    finished = session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "payout_run.finished")
    )
    assert finished == 1
    assert verify_chain().ok


def _submitted_count(session) -> int:
    count = session.scalar(
        sa.select(sa.func.count())
        .select_from(Payout)
        .where(Payout.status == PayoutStatus.SUBMITTED, Payout.lease_until.is_not(None))
    )
    session.rollback()
    return count


def _age_leases(session) -> None:
    """The dead process's lease would run out after its full length: let that time pass."""
    session.execute(
        sa.update(Payout)
        .where(Payout.lease_until.is_not(None))
        .values(lease_until=sa.func.now() - sa.text("interval '1 second'"))
    )
    session.commit()


def test_executions_killed_mid_run_at_several_points_then_resumed_pay_each_payout_once(
    committed_db, seeded, executor, stripe_emulator
):
    count = 9
    run_id, artists = seeded(count)
    log = stripe_emulator.emulator.transfer_log
    session = committed_db.session
    # Every transfer takes a while, so each kill lands while a call is out (the emulator then
    # makes the transfer anyway and answers a dead socket).
    delay_transfers(stripe_emulator, 0.3, count)
    outputs = []

    def killed(until, what: str, *, age: bool) -> None:
        victim = executor(run_id, timeout=1.0, retries=0)
        wait_until(until, what)
        victim.kill()
        outputs.append(victim.output())
        assert len(log()) < count, "the run ended before the kill"
        if age:
            _age_leases(session)

    killed(lambda: _submitted_count(session) >= 1, "the first payout submitted", age=True)
    killed(lambda: len(log()) >= 3, "3 transfers", age=True)
    # This one's leases are left to run out (shortened to a few seconds): the resume works
    # what is free, then waits for them.
    killed(
        lambda: len(log()) >= 6 and _submitted_count(session) >= 1,
        "6 transfers and a payout out at Stripe",
        age=False,
    )
    session.execute(
        sa.update(Payout)
        .where(Payout.lease_until.is_not(None))
        .values(lease_until=sa.func.now() + sa.text("interval '3 seconds'"))
    )
    session.commit()
    resume = executor(run_id, timeout=1.0, retries=0)
    code = resume.wait()

    assert code == 0, "\n".join([*outputs, resume.output()])
    assert "finished" in resume.output()
    assert_exactly_once(stripe_emulator)
    assert_nothing_payable_left(artists)
    paid = session.scalars(
        sa.select(AuditEvent.artist_id).where(AuditEvent.action == "payout.paid")
    ).all()
    assert sorted(paid) == sorted(a.id for a in artists)
    assert verify_chain().ok

"""`flask compensation accrue-stipends --month YYYY-MM`: once per member and month."""

from __future__ import annotations

import pytest

from access_program.compensation.cli import compensation_cli
from access_program.db import utcnow
from tests.compensation import entries_of, member


def accrue(runner, *args: str):
    return runner.invoke(compensation_cli, ["accrue-stipends", *args])


def test_accruing_twice_credits_each_member_once(db, runner):
    a = member(monthly_stipend=25000).user
    b = member(monthly_stipend=0).user
    month = utcnow().strftime("%Y-%m")

    first = accrue(runner, "--month", month)
    second = accrue(runner, "--month", month)

    assert first.exit_code == 0, first.output
    assert f"Stipends for {month}: 1 credited, 0 already credited, 1 with no stipend" in (
        first.output
    )
    assert second.exit_code == 0
    assert "0 credited, 1 already credited" in second.output
    assert [e.amount_minor for e in entries_of(a.id)] == [25000]
    assert entries_of(b.id) == []


@pytest.mark.parametrize("month", ["2026-13", "26-03", "march", "2026-3"])
def test_a_malformed_month_is_a_usage_error(db, runner, month):
    result = accrue(runner, "--month", month)

    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_the_month_is_required(db, runner):
    assert accrue(runner).exit_code == 2


def test_a_month_that_has_not_started_is_refused(db, runner):
    result = accrue(runner, "--month", f"{utcnow().year + 1}-01")

    assert result.exit_code == 1
    assert "has not started" in result.output

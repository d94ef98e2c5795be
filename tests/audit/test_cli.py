"""`flask audit verify`, `flask audit export`, and the standalone verifier in tools/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from access_program import audit
from access_program.accounts import service as accounts
from access_program.audit.service import Actor
from access_program.db import is_postgres

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify_audit_export.py"
SYSTEM = Actor.system("test")


@pytest.fixture
def chain(db) -> int:
    """A few real events (one with non-ASCII data); returns the head sequence number."""
    accounts.create_user(SYSTEM, email="s@example.org", name="Zoë", role="staff", password="x" * 12)
    for n in range(3):
        audit.record(SYSTEM, "test.append", "thing", n, data={"n": n, "note": "naïve café"})
    return audit.record(SYSTEM, "test.last", "thing", None).seq


def _tamper(db, seq: int) -> None:
    """Change a stored event behind the app's back, as someone with database access could."""
    if is_postgres():
        # The append-only trigger refuses this; a superuser can switch triggers off.
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    db.session.execute(
        sa.text("UPDATE audit_events SET data = :data WHERE seq = :seq"),
        {"data": json.dumps({"n": 1000}), "seq": seq},
    )


def _verify_export(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(path)], capture_output=True, text=True, timeout=60
    )


def test_verify_prints_ok_with_count_and_head(db, runner, chain):
    head = audit.service.head()

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"OK: {chain} events, head {head[1]}"
    assert head[0] == chain


def test_verify_names_the_first_broken_event_after_tampering(db, runner, chain):
    _tamper(db, chain - 2)

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert f"BROKEN at seq {chain - 2}" in result.output
    assert not result.output.startswith("OK")


def test_export_writes_one_json_line_per_event(db, runner, chain, tmp_path):
    out = tmp_path / "audit.jsonl"

    result = runner.invoke(args=["audit", "export", "--output", str(out)])

    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, chain + 1))
    assert {"seq", "occurred_at", "action", "data", "prev_hash", "hash"} <= set(events[0])
    assert events[-2]["data"] == {"n": 2, "note": "naïve café"}
    assert all("password" not in line for line in lines)


def test_export_to_standard_output(db, runner, chain):
    result = runner.invoke(args=["audit", "export"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == chain


def test_the_standalone_verifier_agrees_with_flask_audit_verify(db, runner, chain, tmp_path):
    out = tmp_path / "audit.jsonl"
    runner.invoke(args=["audit", "export", "-o", str(out)])
    expected = runner.invoke(args=["audit", "verify"]).output.strip()

    checked = _verify_export(out)

    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == expected


def test_the_standalone_verifier_finds_a_tampered_export(db, runner, chain, tmp_path):
    out = tmp_path / "audit.jsonl"
    runner.invoke(args=["audit", "export", "-o", str(out)])
    lines = out.read_text(encoding="utf-8").splitlines()
    event = json.loads(lines[chain - 3])
    event["data"]["n"] = 1000
    lines[chain - 3] = json.dumps(event, ensure_ascii=False)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")

    checked = _verify_export(out)

    assert checked.returncode == 1
    assert checked.stdout.strip() == f"BROKEN at seq {chain - 2}"


@pytest.mark.parametrize("damage", ["drop a line", "garbage line", "reorder"])
def test_the_standalone_verifier_finds_other_damage(db, runner, chain, tmp_path, damage):
    out = tmp_path / "audit.jsonl"
    runner.invoke(args=["audit", "export", "-o", str(out)])
    lines = out.read_text(encoding="utf-8").splitlines()
    if damage == "drop a line":
        del lines[1]
    elif damage == "garbage line":
        lines[1] = "not json"
    else:
        lines[1], lines[2] = lines[2], lines[1]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")

    checked = _verify_export(out)

    assert checked.returncode == 1
    assert checked.stdout.strip() == "BROKEN at seq 2"


def test_the_verifier_uses_only_the_standard_library():
    source = VERIFIER.read_text(encoding="utf-8")
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= set(sys.stdlib_module_names)
    assert len(source.splitlines()) <= 45

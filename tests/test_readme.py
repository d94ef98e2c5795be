"""The README's standalone audit verifier is the real one, and works as the README says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from access_program import audit
from access_program.audit.service import Actor

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VERIFIER = ROOT / "tools" / "verify_audit_export.py"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_verifier() -> str:
    """The Python block in the README that holds the verifier (it defines ``verify``)."""
    blocks = [b for b in BLOCK.findall(README.read_text(encoding="utf-8")) if "def verify(" in b]
    assert len(blocks) == 1, "the README shows the verifier in exactly one ```python block"
    return blocks[0]


def test_readme_shows_tools_verify_audit_export_py_exactly():
    assert readme_verifier() == VERIFIER.read_text(encoding="utf-8")


def test_the_readme_copy_verifies_a_real_export(db, runner, tmp_path):
    system = Actor.system("test")
    for n in range(3):
        audit.record(system, "test.readme", "thing", n, data={"n": n, "note": "café"})
    export = tmp_path / "audit.jsonl"
    script = tmp_path / "verify.py"
    script.write_text(readme_verifier(), encoding="utf-8")
    assert runner.invoke(args=["audit", "export", "-o", str(export)]).exit_code == 0
    expected = runner.invoke(args=["audit", "verify"]).output.strip()

    ok = subprocess.run([sys.executable, str(script), str(export)], capture_output=True, text=True)

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == expected
    lines = export.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if '"n": 1,' in line)
    lines[index] = lines[index].replace('"n": 1,', '"n": 7,')
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    broken = subprocess.run(
        [sys.executable, str(script), str(export)], capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert broken.stdout.strip() == f"BROKEN at seq {index + 1}"

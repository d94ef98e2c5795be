"""The access decision under load, and pause staleness, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/access_check.py            (or `make bench`)
    .venv/bin/python benchmarks/access_check.py --quick --no-write      (what CI runs)

For each database it builds a fresh one (migrations + `flask seed-demo`), creates a service token
with `access:check` and an admin token through the CLI, and starts gunicorn (2 sync workers) on a
free loopback port. Then:

1. Throughput: `wrk` (Debian's package) measures requests/s of ``GET /api/v1/access/<artist id>``
   (with the bearer header) and of ``GET /healthz`` (a bare route returning a constant JSON
   object) side by side, alternating the two, and prints the ratio (bar: at least 0.5).
2. Pause staleness: Python threads keep asking for the same artist's decision, recording when each
   request started and what it answered; meanwhile an admin starts a global pause through the API.
   The pause is committed when that POST returns. Allowed decisions whose request started after
   that moment must number 0.

The table is printed, and (unless --no-write) written with the command to docs/benchmarks.md.
Every load is bounded in time and count and goes to 127.0.0.1 only. Exit code 1 if a bar fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- benchmarks/access_check.py: start -->"
END = "<!-- benchmarks/access_check.py: end -->"
HEADER = (
    "# Benchmarks\n\nOne section per script in `benchmarks/` (`make bench` runs them all); each"
    " script\nrewrites only its own section.\n\n"
)
HOST = "127.0.0.1"
PG_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/access_program_bench"
)
RATIO_TARGET = 0.5
LOAD_AT_START: list[float] = []  # 1, 5 and 15 minute load averages, for the record
ARTIST_EMAIL = "artist001@example.org"
ADMIN_EMAIL = "admin@example.org"
PAUSE_REASON = "Benchmark: pause staleness check."


@dataclass
class Settings:
    duration: int  # seconds per wrk run
    rounds: int  # alternations of /healthz and /access
    connections: int
    wrk_threads: int
    artists: int
    pending: int
    load_threads: int
    before_pause: float  # seconds of load before the pause POST
    after_pause: float  # seconds of load after it returned
    max_requests: int  # per load thread, a hard bound


FULL = Settings(10, 5, 16, 2, 280, 20, 8, 3.0, 3.0, 20_000)
QUICK = Settings(3, 1, 16, 2, 40, 5, 6, 1.5, 1.5, 5_000)


@dataclass
class Result:
    database: str
    healthz: list[float] = field(default_factory=list)
    access: list[float] = field(default_factory=list)
    access_latency: str = ""
    healthz_latency: str = ""
    requests_during_pause_test: int = 0
    allowed_before_commit: int = 0
    denied_after_commit: int = 0
    stale: int = 0
    pause_post_ms: float = 0.0
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def healthz_rps(self) -> float:
        return statistics.median(self.healthz) if self.healthz else 0.0

    @property
    def access_rps(self) -> float:
        return statistics.median(self.access) if self.access else 0.0

    @property
    def ratio(self) -> float:
        return self.access_rps / self.healthz_rps if self.healthz_rps else 0.0

    @property
    def ratio_ok(self) -> bool:
        return self.ratio >= RATIO_TARGET

    @property
    def staleness_ok(self) -> bool:
        """No stale allow, and the load really saw both sides of the pause (not vacuous)."""
        return self.stale == 0 and self.allowed_before_commit > 0 and self.denied_after_commit > 0


# --- the app under test --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def app_env(database_url: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_CONFIG="development",
        DATABASE_URL=database_url,
        SECRET_KEY="benchmark-only-secret",
        PUBLIC_BASE_URL=f"http://{HOST}:{port}",
        PYTHONWARNINGS="ignore",
    )
    return env


def flask(env: dict[str, str], *args: str, timeout: int = 600) -> str:
    command = [sys.executable, "-m", "flask", "--app", "app", *args]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare_database(database_url: str, env: dict[str, str], s: Settings) -> tuple[str, str, int]:
    """Migrate and seed; return (service token, admin token, an active artist's id)."""
    flask(env, "db", "upgrade")
    flask(env, "seed-demo", "--artists", str(s.artists), "--pending", str(s.pending))
    service = flask(env, "tokens", "create", "--service", "bench", "--scope", "access:check")
    admin = flask(env, "tokens", "create", "--email", ADMIN_EMAIL, "--scope", "api")
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        artist_id = conn.execute(
            sa.text("SELECT id FROM users WHERE email = :email"), {"email": ARTIST_EMAIL}
        ).scalar_one()
    engine.dispose()
    return service.strip().splitlines()[-1], admin.strip().splitlines()[-1], artist_id


class Gunicorn:
    """gunicorn with 2 sync workers on a loopback port, stopped on exit."""

    def __init__(self, env: dict[str, str], port: int, log: Path):
        self.port = port
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--worker-class",
                "sync",
                "--bind",
                f"{HOST}:{port}",
                "--log-level",
                "warning",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.proc.returncode}; see {self.log.name}"
                )
            try:
                status, _ = request(self.port, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def request(
    port: int, method: str, path: str, token: str | None = None, body: dict | None = None
) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {})
    finally:
        conn.close()


# --- throughput with wrk ---------------------------------------------------------------------

RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
LATENCY = re.compile(r"Latency\s+(\S+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors:.*")


def wrk(
    port: int, path: str, s: Settings, token: str | None, duration: int, errors: list[str]
) -> tuple[float, str]:
    """Requests/s and average latency; responses that were not 2xx are added to ``errors``."""
    command = [
        "wrk",
        f"-t{s.wrk_threads}",
        f"-c{s.connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
    ]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    command.append(f"http://{HOST}:{port}{path}")
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=True
    ).stdout
    match = RPS.search(out)
    if not match:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    bad = NON_2XX.search(out)
    if bad and int(bad.group(1)):
        total = re.search(r"(\d+) requests in", out)
        errors.append(
            f"{path}: {bad.group(1)} of {total.group(1) if total else '?'} responses under load"
            " were not 2xx"
        )
    latency = LATENCY.search(out)
    return float(match.group(1)), latency.group(1) if latency else "?"


def throughput(result: Result, port: int, token: str, artist_id: int, s: Settings) -> None:
    access = f"/api/v1/access/{artist_id}"
    errors = result.errors
    wrk(port, "/healthz", s, None, 1, errors)  # warm both workers and both paths
    wrk(port, access, s, token, 1, errors)
    for _ in range(s.rounds):
        rps, result.healthz_latency = wrk(port, "/healthz", s, None, s.duration, errors)
        result.healthz.append(rps)
        rps, result.access_latency = wrk(port, access, s, token, s.duration, errors)
        result.access.append(rps)


# --- pause staleness -------------------------------------------------------------------------


def staleness(
    result: Result, port: int, token: str, admin_token: str, artist_id: int, s: Settings
) -> None:
    path = f"/api/v1/access/{artist_id}"
    samples: list[tuple[float, float, int, bool | None]] = []
    lock = threading.Lock()
    stop = threading.Event()
    deadline = time.monotonic() + s.before_pause + s.after_pause + 30  # hard bound

    def load() -> None:
        mine = []
        for _ in range(s.max_requests):
            if stop.is_set() or time.monotonic() > deadline:
                break
            started = time.monotonic()
            try:
                status, body = request(port, "GET", path, token)
            except OSError:
                status, body = 0, {}
            mine.append((started, time.monotonic(), status, body.get("allowed")))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=load, daemon=True) for _ in range(s.load_threads)]
    for thread in threads:
        thread.start()
    time.sleep(s.before_pause)
    posted = time.monotonic()
    status, pause = request(
        port, "POST", "/api/v1/pauses", admin_token, {"scope": "global", "reason": PAUSE_REASON}
    )
    committed = time.monotonic()
    time.sleep(s.after_pause)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    if status != 201:
        result.errors.append(f"starting the pause answered {status}: {pause}")
        return
    result.pause_post_ms = (committed - posted) * 1000
    result.requests_during_pause_test = len(samples)
    failures = [x for x in samples if x[2] != 200]
    if failures:
        result.errors.append(f"{len(failures)} access checks failed during the pause test")
    result.allowed_before_commit = sum(1 for x in samples if x[1] < posted and x[3] is True)
    result.denied_after_commit = sum(1 for x in samples if x[0] > committed and x[3] is False)
    result.stale = sum(1 for x in samples if x[0] > committed and x[3] is True)
    status, _ = request(
        port, "POST", f"/api/v1/pauses/{pause['id']}/end", admin_token, {"note": "Benchmark done."}
    )
    if status != 200:
        result.errors.append(f"ending the pause answered {status}")


def server_errors(log: Path, limit: int = 5) -> list[str]:
    """The distinct error lines the server logged (the last line of each traceback)."""
    lines = log.read_text(errors="replace").splitlines()
    found: list[str] = []
    for n, line in enumerate(lines):
        if line.startswith("Traceback") or " ERROR " in line or "[ERROR]" in line:
            tail = next(
                (x for x in lines[n + 1 :] if x and not x.startswith((" ", "Traceback"))), line
            )
            message = f"server log: {tail.strip()[:300]}"
            if message not in found:
                found.append(message)
    return found[:limit]


# --- one database ----------------------------------------------------------------------------


def run_database(name: str, s: Settings, workdir: Path) -> Result:
    result = Result(name)
    if name == "sqlite":
        database_url = f"sqlite:///{workdir / 'bench.sqlite'}"
    else:
        database_url = PG_URL
        try:
            subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "pgdb.py"), "recreate", database_url],
                check=True,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.CalledProcessError as exc:
            result.skipped = f"PostgreSQL not reachable: {exc.stderr.strip().splitlines()[-1:]}"
            return result
    port = free_port()
    env = app_env(database_url, port)
    print(f"[{name}] migrating and seeding ({s.artists} artists) …", flush=True)
    service_token, admin_token, artist_id = prepare_database(database_url, env, s)
    server = Gunicorn(env, port, workdir / f"gunicorn-{name}.log")
    try:
        server.wait_ready()
        status, decision = request(port, "GET", f"/api/v1/access/{artist_id}", service_token)
        if status != 200 or decision.get("allowed") is not True:
            result.errors.append(f"artist {artist_id} is not allowed before the run: {decision}")
            return result
        print(f"[{name}] throughput: wrk {s.rounds}× {s.duration}s per path …", flush=True)
        throughput(result, port, service_token, artist_id, s)
        print(f"[{name}] pause staleness: {s.load_threads} client threads …", flush=True)
        staleness(result, port, service_token, admin_token, artist_id, s)
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        result.errors.append(str(exc))
    finally:
        server.stop()
    if result.errors:
        result.errors += server_errors(workdir / f"gunicorn-{name}.log")
    if name == "postgres":
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "pgdb.py"), "drop", database_url],
            capture_output=True,
            check=False,
            timeout=60,
        )
    return result


# --- report ----------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| database | /healthz req/s | /api/v1/access/&lt;id&gt; req/s | ratio (bar ≥ 0.5) "
        "| latency avg healthz / access | allowed after pause committed (bar 0) "
        "| checks during pause test | pause POST |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.database} | skipped: {r.skipped} | | | | | | |")
            continue
        lines.append(
            f"| {r.database} | {r.healthz_rps:,.0f} | {r.access_rps:,.0f} | {r.ratio:.2f} "
            f"| {r.healthz_latency} / {r.access_latency} | {r.stale} "
            f"| {r.requests_during_pause_test:,} ({r.allowed_before_commit:,} allowed before, "
            f"{r.denied_after_commit:,} denied after) | {r.pause_post_ms:.0f} ms |"
        )
    return "\n".join(lines)


def tool_version(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def wrk_version() -> str:
    match = re.search(r"wrk (\S+)", tool_version(["wrk", "--version"]))
    return match.group(1) if match else "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def problems(results: list[Result]) -> str:
    """What went wrong in the run, for the record (empty when nothing did)."""
    lines = [f"- {r.database}: {e}" for r in results for e in r.errors]
    lines += [
        f"- {r.database}: the access decision is at {r.ratio:.2f}× the bare route (bar 0.5)"
        for r in results
        if not r.skipped and not r.ratio_ok
    ]
    return ("\nProblems seen in this run:\n" + "\n".join(lines) + "\n") if lines else ""


def write_doc(results: list[Result], s: Settings, command: str) -> None:
    when = dt.datetime.now(dt.UTC).strftime("%d %b %Y, %H:%M UTC")
    load = " / ".join(f"{x:.1f}" for x in LOAD_AT_START)
    rounds = f"{s.rounds} alternating rounds of {s.duration} s per path, median"
    section = f"""## The access decision: throughput and pause staleness

Figures from one run of the command below on {when}: {os.cpu_count()} cores ({cpu_model()}),
Python {platform.python_version()}, wrk {wrk_version()},
gunicorn with 2 sync workers on 127.0.0.1; load average {load} when it started. wrk and the
server share the same cores, so the absolute numbers are low; the bars are about the ratio and the
staleness count.

```
{command}
```

{table(results)}
{problems(results)}
What is measured:
- **Throughput** (issue bar: the access decision at least 0.5× a bare route). wrk
  (`-t{s.wrk_threads} -c{s.connections}`, {rounds}) against `GET /healthz`, a route that returns
  a constant JSON object, and `GET /api/v1/access/<artist id>` with a service token holding
  `access:check` (`Authorization: Bearer …`), for an artist with an active grant. Both run in
  the same app, server and database, one after the other in one run.
- **Pause staleness** (bar: 0). {s.load_threads} client threads ask for the same artist's
  decision in a loop (each request on a new connection, start time recorded); after
  {s.before_pause:g} s an admin token starts a global pause with `POST /api/v1/pauses`. The pause
  counts as committed when that POST has returned. A decision that says `allowed: true` for a
  request that *started* after that moment would be stale; the count must be 0. Requests in
  flight while the POST runs may answer either way. The benchmark also checks that the load did
  see allowed decisions before the pause and denied ones after it, so the check cannot pass
  vacuously.
- Each database is new: migrations, then `flask seed-demo --artists {s.artists} --pending
  {s.pending}`; tokens come from `flask tokens create`. PostgreSQL runs at 127.0.0.1:5432.
- One SQL statement per access decision (the token lookup and the decision together; the issue
  allows 2) is asserted by the test suite by counting statements with SQLAlchemy events, not here.
- What keeps the check close to the bare route: that single SELECT is compiled once per process
  and run on a pooled DBAPI connection outside the request transaction (`db.Precompiled`,
  `db.read_first`; PostgreSQL: a small autocommit pool, one round trip, no BEGIN or COMMIT; when
  an engine has cursor-event listeners it goes through an SQLAlchemy Connection so they see
  it), with a literal `'active'` so the planners use the partial index of active memberships,
  and scalar subqueries rather than a join on a subquery (PostgreSQL had planned that as a hash
  join over every grant). API requests skip the session cookie (the API
  never honours it), and the limiter skips the access check (no limit applies to it). Measured
  along the way with `--quick`: 0.35 / 0.28 (SQLite / PostgreSQL) before, 0.44 / 0.37 with the
  single statement on its own connection, 0.66 / 0.32 with the cookie and limiter skipped, then
  0.72 / 0.77 with the precompiled statement and the PostgreSQL plan fixed.
"""
    DOC.write_text(replace_section(section), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")


def replace_section(section: str) -> str:
    """docs/benchmarks.md with this benchmark's section replaced; other sections are kept."""
    block = f"{START}\n{section.rstrip()}\n{END}\n"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if not text.lstrip().startswith("# "):
        text = HEADER + text.lstrip("\n")
    if START in text and END in text:
        before, rest = text.split(START, 1)
        return before + block.rstrip("\n") + rest.split(END, 1)[1]
    if not text.lstrip().startswith("# "):
        text = HEADER + text.lstrip("\n")
    return text.rstrip("\n") + "\n\n" + block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="comma-separated: sqlite,postgres"
    )
    parser.add_argument("--duration", type=int, help="seconds per wrk run")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: install Debian's package (apt-get install -y wrk)", file=sys.stderr)
        return 2
    s = QUICK if args.quick else FULL
    LOAD_AT_START[:] = os.getloadavg()
    if args.duration:
        s.duration = max(1, min(args.duration, 120))
    results = []
    with tempfile.TemporaryDirectory(prefix="access-bench-") as tmp:
        for name in [d.strip() for d in args.databases.split(",") if d.strip()]:
            if name not in ("sqlite", "postgres"):
                parser.error(f"unknown database {name!r}")
            results.append(run_database(name, s, Path(tmp)))
    print()
    print(table(results))
    failed = []
    for r in results:
        if r.skipped:
            if os.environ.get("CI"):
                failed.append(f"{r.database}: {r.skipped}")
            continue
        failed += [f"{r.database}: {e}" for e in r.errors]
        if not r.staleness_ok:
            failed.append(f"{r.database}: pause staleness (stale allows: {r.stale})")
        if not r.ratio_ok:
            message = f"{r.database}: throughput ratio {r.ratio:.2f} < {RATIO_TARGET}"
            if args.quick:
                # Short runs on a shared CI machine are too noisy to gate on; the full run is.
                print(f"warning: {message} (not gated in --quick)", file=sys.stderr)
            else:
                failed.append(message)
    if not args.no_write:
        command = ".venv/bin/python " + shlex.join(
            ["benchmarks/access_check.py", *(argv if argv is not None else sys.argv[1:])]
        )
        write_doc(results, s, command + "      # also run by `make bench`")
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print("all bars met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

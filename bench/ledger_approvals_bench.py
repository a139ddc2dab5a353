"""Approvals per second on each database with 20 concurrent reviewers, and the p99 of an approval.

    python bench/ledger_approvals_bench.py [--reviewers 20] [--per-reviewer 50] [--postgres URL]

For each database (a SQLite file; a fresh schema on PostgreSQL at --postgres), the ledger is made
in this process through the ledger's own functions: the Huzhou pack's budgets, one subject per
application, `--reviewers` reviewer accounts of 市科技局 with bearer tokens, and
reviewers × per-reviewer submitted 创新券 applications (10,000 元 of fees → 5,000 元 each). Then
`zhida serve`'s app runs in its own process (uvicorn, `create_default_app` on DATABASE_URL), and
each reviewer, in its own thread with its own keep-alive connection, approves its share one after
another. Every approval is a real one: the ceiling recomputed with the subject's awards, the caps,
the area budget row locked, the award and the application written, two audit entries chained, the
Idempotency-Key stored.

Baselines in the same run: GET /api/v1/health from the same clients (the floor of any request to
this server), and `review.decide` called in this process on one thread, no HTTP (the floor of the
work itself on that database).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from zhida.ledger import accounts, review, subjects  # noqa: E402
from zhida.ledger.access import Actor, Role  # noqa: E402
from zhida.ledger.database import connect, sessions, transaction  # noqa: E402
from zhida.rules.pack import load_pack  # noqa: E402
from zhida.synth import credit_code  # noqa: E402
from zhida.web.app import open_ledger_state  # noqa: E402

PACK = load_pack(ROOT / "policies" / "huzhou-2025")


def prepare(url: str, reviewers: int, per_reviewer: int) -> tuple[list[str], list[list[int]]]:
    """Budgets, subjects, reviewers with tokens and submitted applications; returns tokens and queues."""
    state = open_ledger_state(PACK, url, files=Path(tempfile.mkdtemp()))
    admin = Actor(0, "bench", Role.ADMIN)
    tokens, queues = [], []
    with transaction(state.factory) as session:
        applicant = accounts.add_user(session, "bench-applicant-owner", "password-bench", Role.FINANCE)
        for number in range(reviewers):
            user = accounts.add_user(session, f"reviewer{number}", "password-bench", Role.REVIEWER, department="市科技局")
            session.flush()
            token, _ = accounts.issue(session, user, "token", "bench")
            tokens.append(token)
        session.flush()
        for number in range(reviewers):
            queue = []
            for item in range(per_reviewer):
                code = credit_code("330502", 10_000 + number * per_reviewer + item)
                subjects.register_subject(session, PACK, Actor(0, "bench", Role.ADMIN), code, "enterprise", f"企业{code[-6:]}", "吴兴区")
                actor = Actor(applicant.id, "bench", Role.APPLICANT, subject_id=code)
                row = review.submit(session, PACK, actor, code, "innovation-voucher",
                                    {"date": "2025-04-01", "service_fee": "10000"})
                session.flush()
                queue.append(row.id)
            queues.append(queue)
    del admin
    state.factory.kw["bind"].dispose()
    return tokens, queues


def serve(url: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "--factory", "zhida.web.app:create_default_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, cwd=tempfile.mkdtemp(), env=env)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def run_clients(base: str, tokens: list[str], queues: list[list[int]], health: bool) -> tuple[float, list[float], int]:
    """Each reviewer in its own thread; returns wall seconds, every latency, and how many succeeded."""
    latencies: list[float] = []
    done = [0]
    lock = threading.Lock()

    def reviewer(index: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            for application in queues[index]:
                started = time.perf_counter()
                if health:
                    response = client.get("/api/v1/health")
                else:
                    response = client.post(
                        f"/api/v1/applications/{application}/decision",
                        json={"decision": "approve", "amount": "5000"},
                        headers={"Authorization": f"Bearer {tokens[index]}", "Idempotency-Key": f"bench-{application}"},
                    )
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    done[0] += response.status_code == 200

    started = time.perf_counter()
    with ThreadPoolExecutor(len(tokens)) as pool:
        list(pool.map(reviewer, range(len(tokens))))
    return time.perf_counter() - started, latencies, done[0]


def in_process(url: str, count: int) -> float:
    """Approvals per second calling review.decide directly, one thread (a fresh ledger of `count`)."""
    tokens, queues = prepare(url, 1, count)
    factory = sessions(connect(url))
    with transaction(factory) as session:
        reviewer = session.query(review.t.User).filter_by(username="reviewer0").one()
        actor = accounts.actor_of(reviewer)
    started = time.perf_counter()
    for application in queues[0]:
        with transaction(factory) as session:
            review.decide(session, PACK, actor, application, "approve", amount=Decimal("5000"))
    elapsed = time.perf_counter() - started
    factory.kw["bind"].dispose()
    return count / elapsed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def postgres_schema(base_url: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = connect(base_url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))  # a generated identifier, not input
    engine.dispose()
    url = make_url(base_url).set(drivername="postgresql+psycopg").update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--per-reviewer", type=int, default=50)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    table = Table(title=f"approvals, {args.reviewers} concurrent reviewers × {args.per_reviewer} each "
                        f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    for column in ("database", "what", "requests", "ok", "per second", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column not in ("database", "what") else "left")
    for name in ("sqlite", "postgresql"):
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db" if name == "sqlite" else postgres_schema(args.postgres)
        tokens, queues = prepare(url, args.reviewers, args.per_reviewer)
        process, base = serve(url)
        try:
            for what, health in (("GET /api/v1/health (floor)", True), ("approve (POST …/decision)", False)):
                wall, latencies, ok = run_clients(base, tokens, queues, health)
                table.add_row(name, what, str(len(latencies)), str(ok), f"{len(latencies) / wall:.0f}",
                              f"{percentile(latencies, 0.5) * 1000:.1f}", f"{percentile(latencies, 0.99) * 1000:.1f}")
        finally:
            process.terminate()
            process.wait(10)
        fresh = f"sqlite:///{tempfile.mkdtemp()}/bench.db" if name == "sqlite" else postgres_schema(args.postgres)
        rate = in_process(fresh, 200)
        table.add_row(name, "review.decide in process, 1 thread (work floor)", "200", "200", f"{rate:.0f}", "", "")
    Console().print(table)


if __name__ == "__main__":
    main()

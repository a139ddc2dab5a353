"""Server time of the web pages with 100,000 enterprises and 1,000,000 awards in the ledger (issue 11).

    python bench/pages_bench.py [--database sqlite|postgres|both] [--enterprises 100000]
                                [--awards 1000000] [--requests 20] [--rebuild] [--pages finance,publicity]

Goal: every page under 300 ms of server time. Baseline in the same run: the calculator page
(GET /calc?subject=enterprise), which reads no ledger at all.

The ledger, built by bulk insert (bench/ledger_report_bench.py's prepare, load_sqlite/load_postgres,
award_rows and fill_running_totals, imported, not copied; its SUBJECTS is set to --enterprises):
- the eight area budgets and an allocation per area to its first cash rule and to 吴兴区;
- --enterprises subjects (企业N, six counties), each with three imported profile facts (service_fee,
  recognition, plan: what /me's candidates read);
- --awards awards over the pack's 41 rules with an amount (about 70% of them 市科技局's), every status;
- one application per award (approved, award.application_id set), plus one in ten more that are
  still open or were turned down (submitted, submitted, returned, rejected): what /console/queue reads;
- 公示: one in 40 of the awards on 公示 or held keeps that status until 30 days after the build
  (~5,000 on the public list at 1M awards); the others have passed it (payable);
- a payment for every award in a batch, paid or failed (about 600,000 at 1M), 1,000 to a batch;
- users (accounts.add_user): kejiju (reviewer, 市科技局), leader, finance, and qiye, an applicant
  bound to one enterprise with a real innovation-voucher application (review.submit: a real trace),
  which is the case page measured.
Applications, payments and facts are written with INSERT … SELECT from the awards and subjects,
so only the awards go through Python.

The SQLite file is cached under /tmp, keyed by the sizes (zhida-pages-bench-<enterprises>-<awards>-vN.db):
a second run skips the load (minutes at 1M) and only migrates it to the current schema (so a new
index migration is applied to it). --rebuild builds it again (so does a new BUILD_VERSION: bump it
when a migration fills data from the awards, which a cached file would not redo). PostgreSQL (127.0.0.1:5432, database
`test`, or ZHIDA_TEST_POSTGRES) is loaded every run into a fresh schema, dropped afterwards.

Each user signs in with POST /login on the app; each page is then requested --requests times through
Starlette's TestClient, in process: the time is the app's (routing, database, rendering, the
Traditional conversion where asked) with no network, measured around each request. The first
request of a page (templates compiled, caches filled) is shown on its own; median and p95 are of
the --requests after it (fewer, at least 5, for a page that has taken over 30 s: the "n" column);
ok/over is judged on the p95. A page whose route does not exist (yet) shows "missing"; a server
error shows its status.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import JSON, case, cast, func, insert, literal, select, update
from starlette.routing import Match

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ledger_report_bench as loading  # noqa: E402  (a sibling script, imported for its loaders)

from zhida.ledger import accounts, review, subjects  # noqa: E402
from zhida.ledger import tables as t  # noqa: E402
from zhida.ledger.access import Actor, Role  # noqa: E402
from zhida.ledger.database import connect, sessions, transaction, upgrade  # noqa: E402
from zhida.rules.pack import load_pack  # noqa: E402
from zhida.web.access import LedgerState  # noqa: E402
from zhida.web.app import create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUILD_VERSION = 2  # bump when the bench's data changes: the cached SQLite file is then rebuilt
GOAL_MS = 300.0
PAGE_SECONDS = 30  # a page stops being repeated after this much time, once MIN_REQUESTS are timed
MIN_REQUESTS = 5
BATCH_SIZE = 1000
PUBLICITY_EVERY = 40
PUBLICITY_DAYS = 30
REVIEWER, LEADER, FINANCE, APPLICANT = "kejiju", "leader", "finance", "qiye"
DEPARTMENT = "市科技局"
APPLICANT_INDEX = 4242  # the enterprise qiye applies for (credit_code(4242))
FACTS = {"service_fee": "300000", "recognition": "首次认定", "plan": "市级重点研发计划"}
console = Console(width=170)


def say(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    say(f"{name} …")
    yield
    say(f"{name}: {time.perf_counter() - started:.1f} s")


# --------------------------------------------------------------------------- the ledger


def password(username: str) -> str:
    return "password-" + username


def build(engine, pack, enterprises: int, awards: int, loader) -> None:
    """The whole ledger (see the module docstring); each stage reports its time."""
    loading.SUBJECTS = enterprises  # award_rows and prepare spread over this many subjects
    with stage(f"schema, budgets and {enterprises:,} subjects"):
        loading.prepare(engine, pack)
    with stage(f"{awards:,} awards (bulk)"):
        loader(engine, pack, awards)
    with engine.begin() as connection:
        with stage("applications (one per award, one in ten more open or turned down)"):
            add_applications(connection, pack)
        with stage("公示 window and payments"):
            add_publicity(connection)
            add_payments(connection)
        with stage("profile facts"):
            add_facts(connection)
    with stage("running totals"):
        loading.fill_running_totals(sessions(engine))
    with stage("users and the applicant's real application"):
        add_people(sessions(engine), pack)
    with stage("ANALYZE"), engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def add_applications(connection, pack) -> None:
    """Applications from the awards by INSERT … SELECT: the approved one behind each award (same
    id), then one in ten more still open or turned down; awards.application_id set to match."""
    a = t.Award
    event_type = case({rule.id: rule.spec.event for rule in pack.rules}, value=a.rule_id, else_="")
    empty_object, empty_list = cast(literal("{}"), JSON), cast(literal("[]"), JSON)
    columns = ["subject_id", "rule_id", "article", "area", "department", "event_type", "event_date", "event_values",
               "status", "verdict", "ceiling", "trace", "clause", "submitted_by", "submitted_at"]
    common = [a.subject_id, a.rule_id, a.article, a.area, a.department, event_type, literal(dt.date(2025, 6, 1)),
              empty_object]
    approved = select(a.id, *common, literal("approved"), a.verdict, a.amount, empty_list, a.clause, a.decided_by,
                      a.decided_at, a.decided_by, a.decided_at)
    connection.execute(insert(t.Application).from_select(["id", *columns, "decided_by", "decided_at"], approved))
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.setval(func.pg_get_serial_sequence("applications", "id"),
                                              select(func.max(t.Application.id)).scalar_subquery())))
    status = case({0: "submitted", 1: "submitted", 2: "returned"}, value=a.id % 40 // 10, else_="rejected")
    open_ones = (select(*common, status, a.verdict, a.amount, empty_list, a.clause, a.decided_by, a.decided_at)
                 .where(a.id % 10 == 0).order_by(a.id))
    connection.execute(insert(t.Application).from_select(columns, open_ones))
    connection.execute(update(a).values(application_id=a.id))


def add_publicity(connection) -> None:
    """One in PUBLICITY_EVERY awards on 公示 or held stays so until PUBLICITY_DAYS from now; the rest are payable."""
    a = t.Award
    showing = a.status.in_(("publicity", "held"))
    until = dt.date.today() + dt.timedelta(days=PUBLICITY_DAYS)
    connection.execute(update(a).where(showing, a.id % PUBLICITY_EVERY == 0).values(publicity_until=until))
    connection.execute(update(a).where(showing, a.id % PUBLICITY_EVERY != 0).values(status="payable"))


def add_payments(connection) -> None:
    """A payment for each cash award in a batch, paid or failed, BATCH_SIZE awards to a batch (by id)."""
    a = t.Award
    last = connection.scalar(select(func.max(a.id))) or 0
    now = t.utcnow()
    connection.execute(insert(t.PaymentBatch), [{"id": number, "created_by": 1, "created_at": now}
                                                for number in range(1, last // BATCH_SIZE + 2)])
    status = case({"paid": "paid", "failed": "failed"}, value=a.status, else_="pending")
    reason = case((a.status == "failed", "户名与账号不符"), else_=None)
    marked = case((a.status == "in_batch", None), else_=now)
    rows = select(a.id // BATCH_SIZE + 1, a.id, a.amount, status, reason, marked).where(
        a.cash.is_(True), a.status.in_(("in_batch", "paid", "failed")))
    connection.execute(insert(t.Payment).from_select(
        ["batch_id", "award_id", "amount", "status", "bank_reason", "marked_at"], rows))


def add_facts(connection) -> None:
    """FACTS for every subject, imported (one INSERT … SELECT per field)."""
    for name, value in FACTS.items():
        rows = select(t.Subject.id, literal(name), literal(value), literal("imported"), literal(dt.date(2025, 6, 30)),
                      literal(t.utcnow()))
        connection.execute(insert(t.ProfileFact).from_select(
            ["subject_id", "field", "value", "source", "as_of", "recorded_at"], rows))


def add_people(factory, pack) -> None:
    """The users of the pages, and one application through review.submit (a real trace and clause)."""
    applicant = loading.credit_code(APPLICANT_INDEX)
    with transaction(factory) as session:
        accounts.add_user(session, REVIEWER, password(REVIEWER), Role.REVIEWER, department=DEPARTMENT)
        accounts.add_user(session, LEADER, password(LEADER), Role.LEADERSHIP)
        accounts.add_user(session, FINANCE, password(FINANCE), Role.FINANCE)
        user = accounts.add_user(session, APPLICANT, password(APPLICANT), Role.APPLICANT, subject_id=applicant)
        session.flush()
        actor = Actor(user.id, APPLICANT, Role.APPLICANT, subject_id=applicant)
        subjects.record_facts(session, pack, actor, applicant, {"service_fee": "60000"}, dt.date(2025, 9, 1))
        review.submit(session, pack, actor, applicant, "innovation-voucher",
                      {"date": "2025-09-05", "service_fee": "60000"})


def case_id(factory) -> int:
    """The applicant's real application: the case page measured."""
    with transaction(factory) as session:
        return session.scalar(select(func.max(t.Application.id)).where(
            t.Application.subject_id == loading.credit_code(APPLICANT_INDEX), t.Application.rule_id == "innovation-voucher"))


def sqlite_file(enterprises: int, awards: int) -> Path:
    return Path(tempfile.gettempdir()) / f"zhida-pages-bench-{enterprises}-{awards}-v{BUILD_VERSION}.db"


@contextmanager
def sqlite_ledger(pack, enterprises: int, awards: int, rebuild: bool) -> Iterator[str]:
    """The cached SQLite ledger, built first if it is not there (built under another name, renamed when whole)."""
    path = sqlite_file(enterprises, awards)
    if rebuild or not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        engine = connect(f"sqlite:///{partial}")
        try:
            build(engine, pack, enterprises, awards, loading.load_sqlite)
        finally:
            engine.dispose()
        partial.replace(path)
    else:
        say(f"cached ledger {path} (--rebuild to build it again)")
    yield f"sqlite:///{path}"


@contextmanager
def postgres_ledger(pack, enterprises: int, awards: int) -> Iterator[str]:
    url, schema = loading.postgres_schema_url()
    loading.postgres_admin("CREATE SCHEMA {}", schema)
    try:
        engine = connect(url)
        try:
            build(engine, pack, enterprises, awards, loading.load_postgres)
        finally:
            engine.dispose()
        yield url
    finally:
        loading.postgres_admin("DROP SCHEMA {} CASCADE", schema)


# --------------------------------------------------------------------------- the pages


@dataclass
class Page:
    label: str
    who: str | None  # username, or None: not signed in
    url: str


@dataclass
class Timing:
    page: Page
    status: int | None = None
    first: float | None = None
    times: list[float] = field(default_factory=list)
    bytes: int = 0

    @property
    def missing(self) -> bool:
        return self.status is None


def pages(case: int, rule: str) -> list[Page]:
    return [
        Page("calculator GET /calc?subject=enterprise (baseline)", None, "/calc?subject=enterprise"),
        Page("GET /policy", None, "/policy"),
        Page("GET /policy/articles/5", None, "/policy/articles/5"),
        Page("GET /policy/search?q=高新技术企业", None, "/policy/search?q=高新技术企业"),
        Page("GET /dashboard (leader)", LEADER, "/dashboard"),
        Page("GET /console (reviewer 市科技局)", REVIEWER, "/console"),
        Page("GET /console/queue", REVIEWER, "/console/queue"),
        Page("GET /console/queue?status=submitted", REVIEWER, "/console/queue?status=submitted"),
        Page("GET /console/queue?rule=…&county=长兴县", REVIEWER, f"/console/queue?rule={rule}&county=长兴县"),
        Page("GET /console/queue?q=企业4242", REVIEWER, "/console/queue?q=企业4242"),
        Page("GET /console/queue?page=100", REVIEWER, "/console/queue?page=100"),
        Page(f"GET /console/applications/{case}", REVIEWER, f"/console/applications/{case}"),
        Page("GET /console/budget", REVIEWER, "/console/budget"),
        Page("GET /finance", FINANCE, "/finance"),
        Page("GET /me (applicant)", APPLICANT, "/me"),
        Page("GET /me/applications", APPLICANT, "/me/applications"),
        Page("GET /publicity", None, "/publicity"),
    ]


def route_exists(app, url: str) -> bool:
    path = url.split("?", 1)[0]
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in app.routes)


def signed_in(app, username: str | None) -> TestClient:
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)  # a 500 is a result
    if username is not None:
        answer = client.post("/login", data={"username": username, "password": password(username)})
        if answer.status_code != 303:
            sys.exit(f"{username} could not sign in: {answer.status_code} {answer.text[:300]}")
    return client


def measure(url: str, pack, requests: int, wanted: list[str]) -> list[Timing]:
    engine = connect(url)
    try:
        upgrade(engine)  # a cached file gets the current schema (e.g. a new index migration)
        factory = sessions(engine)
        with tempfile.TemporaryDirectory() as files:
            app = create_app(pack, LedgerState(factory, pack, Path(files)))
            clients = {who: signed_in(app, who) for who in (None, REVIEWER, LEADER, FINANCE, APPLICANT)}
            rule = next(rule.id for rule in pack.rules if subjects.department_of(rule) == DEPARTMENT
                        and rule.amount is not None)
            results = []
            try:
                chosen = pages(case_id(factory), rule)
                chosen = chosen[:1] + [page for page in chosen[1:] if not wanted or any(word in page.label for word in wanted)]
                for page in chosen:
                    results.append(time_page(app, clients[page.who], page, requests))
            finally:
                for client in clients.values():
                    client.close()
    finally:
        engine.dispose()
    return results


def time_page(app, client: TestClient, page: Page, requests: int) -> Timing:
    timing = Timing(page)
    if not route_exists(app, page.url):
        say(f"{page.label}: missing")
        return timing
    spent = 0.0
    for _ in range(requests + 1):  # the first, untimed in the median: templates compiled, caches filled
        if len(timing.times) >= MIN_REQUESTS and spent > PAGE_SECONDS * 1000:
            break  # a page of seconds: a few requests say enough
        started = time.perf_counter()
        answer = client.get(page.url)
        elapsed = (time.perf_counter() - started) * 1000
        spent += elapsed
        if timing.first is None:
            timing.first = elapsed
        else:
            timing.times.append(elapsed)
        timing.status, timing.bytes = answer.status_code, len(answer.content)
    say(f"{page.label}: {timing.status}, median {statistics.median(timing.times):.1f} ms, {timing.bytes:,} bytes")
    return timing


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def show(name: str, results: list[Timing], enterprises: int, awards: int, requests: int) -> None:
    table = Table(title=f"{name}: {enterprises:,} enterprises, {awards:,} awards, {requests} requests a page (ms of server time)")
    for header, justify in (("page", "left"), ("status", "right"), ("n", "right"), ("first", "right"), ("median", "right"),
                            ("p95", "right"), ("goal", "right"), ("× calculator (median)", "right"), ("", "left")):
        table.add_column(header, justify=justify)
    baseline = statistics.median(results[0].times) if results and results[0].times else None
    for result in results:
        if result.missing:
            table.add_row(result.page.label, "", "", "", "", "", f"{GOAL_MS:.0f}", "", "missing")
            continue
        median, high = statistics.median(result.times), p95(result.times)
        ok = result.status == 200 and high < GOAL_MS
        verdict = "ok" if ok else ("over" if result.status == 200 else f"HTTP {result.status}")
        ratio = f"{median / baseline:.1f}" if baseline else ""
        table.add_row(result.page.label, str(result.status), str(len(result.times)), f"{result.first:.1f}", f"{median:.1f}", f"{high:.1f}",
                      f"{GOAL_MS:.0f}", ratio, verdict if ok else f"[bold red]{verdict}[/bold red]")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--awards", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="build the cached SQLite ledger again")
    parser.add_argument("--pages", default="", help="only the pages whose label contains one of these words "
                        "(comma-separated, e.g. finance,publicity); the calculator baseline always runs")
    arguments = parser.parse_args()
    if arguments.enterprises <= APPLICANT_INDEX:
        parser.error(f"--enterprises must be over {APPLICANT_INDEX} (the applicant's enterprise)")
    pack = load_pack(ROOT / "policies" / "huzhou-2025")
    sizes = (arguments.enterprises, arguments.awards)
    wanted = [word for word in arguments.pages.split(",") if word]
    runs = []
    if arguments.database in ("sqlite", "both"):
        with sqlite_ledger(pack, *sizes, arguments.rebuild) as url:
            runs.append(("SQLite (file)", measure(url, pack, arguments.requests, wanted)))
    if arguments.database in ("postgres", "both"):
        with postgres_ledger(pack, *sizes) as url:
            runs.append(("PostgreSQL", measure(url, pack, arguments.requests, wanted)))
    for name, results in runs:
        show(name, results, *sizes, arguments.requests)
    console.print(f"Python {platform.python_version()}, {os.cpu_count()} cores, load average "
                  f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, {dt.date.today().isoformat()}")


if __name__ == "__main__":
    main()

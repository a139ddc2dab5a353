"""Latency of the calculator API under concurrent clients, against a trivial endpoint and in-process calls.

    python bench/api_bench.py [--clients 50] [--requests 200] [--workers 1]

Starts uvicorn serving `zhida.web.app:create_default_app` (the Huzhou pack of this repository) as
`zhida serve` does, on 127.0.0.1 at a free port in subprocesses, waits until they listen, then runs
`--clients` concurrent clients (each its own httpx.AsyncClient, one keep-alive connection), each
sending `--requests` single-case POST /api/v1/calculate requests (an enterprise with three events:
a first high-tech recognition, an innovation voucher and an R&D report), one after another.
Every request's latency is measured at the client. The same clients then send as many
GET /api/v1/health requests: the floor the server and the client pay for any request. Then the
event loop under the largest work the API accepts: `--probe-clients` clients send GET
/api/v1/health, first on an idle server, then while `--heavy-clients` clients post the largest case
again and again (1,000 events in a 1 MB body, zhida.web.api's limits); the two health p99s side by
side show whether a big calculation holds up other requests. Last, the same three-event case is
computed in this process, `calculate(pack, case_from_data(...))` + `result_to_dict`, to show what is
the calculation and what is HTTP.

Goal: p99 of POST /api/v1/calculate under 20 ms with 50 clients; health p99 while the largest
cases are computed within a few ms of its idle p99 (the loop does not block).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from zhida.engine.calculate import calculate
from zhida.engine.case import case_from_data
from zhida.engine.output import result_to_dict
from zhida.rules.pack import load_pack
from zhida.web.api import MAX_BODY_BYTES, MAX_CASE_EVENTS

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "policies" / "huzhou-2025"
GOAL_P99_MS = 20.0

CASE = {
    "subject": {"id": "91330500MA2B3C4D5E", "kind": "enterprise", "name": "湖州某科技有限公司"},
    "events": [
        # 對首次認定的高新技術企業,每家給予最高20萬元獎勵
        {"id": "h1", "type": "high_tech_recognition", "date": "2025-05-01", "recognition": "首次认定"},
        # 按實際發生服務費用給予最高50%比例的補助: 40000.005 -> 40000.01
        {"id": "v1", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "80000.01"},
        # 研發費用佔營業收入比重高于5%的企業納入市級科技計劃支持清單
        {"id": "r1", "type": "rd_report", "date": "2025-06-30", "rd_expense": "6000000", "revenue": "100000000"},
    ],
}


def largest_case() -> bytes:
    """The largest case the API accepts: MAX_CASE_EVENTS innovation vouchers in exactly MAX_BODY_BYTES.

    50% of 1000.00 元 each, 单个企业全年最高补助20万元: the total stops at 200000.00.
    """
    events = [
        {"id": f"v{index}", "type": "innovation_voucher", "date": "2025-03-01", "service_fee": "1000.00"}
        for index in range(MAX_CASE_EVENTS)
    ]
    body = json.dumps({"subject": CASE["subject"], "events": events}, ensure_ascii=False).encode("utf-8")
    return body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"  # blank space is still JSON


def start_servers(workers: int, protocol: str = "bounded") -> tuple[int, list[subprocess.Popen]]:
    """`workers` uvicorn processes serving one port on 127.0.0.1, each on its own SO_REUSEPORT socket.

    The kernel spreads the connections evenly over the sockets (one shared socket lets whichever
    worker wakes first accept nearly all 50 keep-alive connections). The sockets are made here,
    with proto IPPROTO_TCP, and handed down: uvicorn's own `--workers N` binds its socket with
    proto 0, so asyncio leaves TCP_NODELAY off and each keep-alive response waits ~40 ms for the
    client's delayed ACK (Kludex/uvicorn#3149, open for uvicorn 0.54.0).
    """
    listeners: list[socket.socket] = []
    port = 0
    for _ in range(workers):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        port = listener.getsockname()[1]
        listeners.append(listener)
    for listener in listeners:
        listener.listen(2048)
    servers = []
    ledgers = Path(tempfile.mkdtemp(prefix="zhida-api-bench-"))
    for number, listener in enumerate(listeners):
        command = [sys.executable, str(Path(__file__).resolve()), "--serve-fd", str(listener.fileno()),
                   "--protocol", protocol]
        # Each worker its own empty ledger and no demo: the calculator does not read it, and the demo's
        # accounts, printed on a first start, would come before "ready" (and ./zhida.db would be left behind).
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{ledgers / f'worker-{number}.db'}", "ZHIDA_DEMO": "0"}
        servers.append(
            subprocess.Popen(command, cwd=ROOT, pass_fds=[listener.fileno()], stdout=subprocess.PIPE, text=True, env=env)
        )
        listener.close()
    for server in servers:  # every worker has loaded the pack and listens before the clients connect
        if server.stdout.readline().strip() != "ready":
            stop_servers(servers)
            raise SystemExit(f"a uvicorn worker failed to start (exit code {server.wait()})")
    return port, servers


def stop_servers(servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(timeout=10)


def serve_worker(fd: int, protocol: str) -> None:
    """One worker: `create_default_app` (the Huzhou pack of this repository) on the inherited socket,
    served as `zhida serve` serves it (zhida.web.server.run: server_config, prepare_server_process);
    `protocol` "httptools" swaps zhida's BoundedHttp for uvicorn's own protocol, for comparison."""
    import threading

    import uvicorn

    from zhida.web.app import create_default_app
    from zhida.web.server import prepare_server_process, server_config

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    app = create_default_app()
    prepare_server_process()
    options = {"http": "httptools"} if protocol == "httptools" else {}
    config = server_config(app, log_level="warning", access_log=False, loop="uvloop", **options)
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started:
            time.sleep(0.01)
        print("ready", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[listener])


async def one_client(
    base: str, method: str, path: str, body: bytes | None, count: int, warm: int, start: asyncio.Event,
    ready: list[int], out: list[float],
) -> None:
    """One httpx.AsyncClient on one keep-alive connection, sending its requests one after another."""
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:
        for index in range(warm + count):
            if index == warm:  # the connection is open and warm: wait for every client to get here
                ready.append(1)
                await start.wait()
            started = time.perf_counter()
            response = await client.request(method, path, content=body, headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
            if index >= warm:
                out.append(elapsed)


async def one_raw_client(
    base: str, method: str, path: str, body: bytes | None, count: int, warm: int, start: asyncio.Event,
    ready: list[int], out: list[float],
) -> None:
    """The same load from a bare asyncio HTTP/1.1 client (`--client raw`), to see the server without httpx's cost."""
    host, port = base.removeprefix("http://").split(":")
    body = body or b""
    request = (
        f"{method} {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode("ascii") + body
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for index in range(warm + count):
            if index == warm:
                ready.append(1)
                await start.wait()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:"))
            await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"{method} {path}: {head.splitlines()[0].decode()}")
            if index >= warm:
                out.append(elapsed)
    finally:
        writer.close()


async def heavy_client(base: str, body: bytes, stop: asyncio.Event, ready: list[int], out: list[float]) -> None:
    """Posts `body` to /api/v1/calculate on one connection, again and again, until `stop` is set.

    A bare asyncio client: it reads the ~0.6 MB answer without parsing it, so it costs the shared
    cores (and the health clients in this same loop) little.
    """
    host, port = base.removeprefix("http://").split(":")
    request = (
        f"POST /api/v1/calculate HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode("ascii") + body
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        first = True
        while not stop.is_set():
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:"))
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"largest case: {head.splitlines()[0].decode()}")
            if first:  # the first answer warms the connection and the worker's thread
                ready.append(1)
                first = False
            else:
                out.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _busy(base, servers, raw, clients, count, warm, heavy, body) -> tuple[Run, list[float]]:
    """Health latency (as `_load`) while `heavy` clients keep posting the largest case; and theirs."""
    stop, ready, heavy_latencies = asyncio.Event(), [], []
    tasks = [asyncio.create_task(heavy_client(base, body, stop, ready, heavy_latencies)) for _ in range(heavy)]
    while len(ready) < heavy:
        if any(task.done() for task in tasks):
            await asyncio.gather(*tasks)  # raise what failed
        await asyncio.sleep(0.01)
    try:
        run = await _load(base, "GET", "/api/v1/health", None, clients, count, warm, servers, raw)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return run, heavy_latencies


def busy(base, servers, raw, clients, count, warm, heavy, body) -> tuple[Run, list[float]]:
    return asyncio.run(_busy(base, servers, raw, clients, count, warm, heavy, body))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine have used so far, summed over cores (Linux /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    latencies: list[float]
    elapsed: float
    server_cpu: float  # seconds, all server processes
    worker_share: list[float]  # each worker's part of server_cpu
    client_cpu: float  # seconds, this process
    other_cpu: float  # seconds, every other process of the machine (other work sharing the cores)


async def _load(base, method, path, body, clients, count, warm, servers, raw) -> Run:
    latencies: list[float] = []
    start, ready = asyncio.Event(), []
    client = one_raw_client if raw else one_client
    tasks = [
        asyncio.create_task(client(base, method, path, body, count, warm, start, ready, latencies))
        for _ in range(clients)
    ]
    while len(ready) < clients:
        if any(task.done() for task in tasks):
            await asyncio.gather(*tasks)  # raise what failed
        await asyncio.sleep(0.01)
    pids = [server.pid for server in servers]
    workers_before = [cpu_seconds([pid]) for pid in pids]
    client_before, busy_before = time.process_time(), machine_busy_seconds()
    started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    workers = [cpu_seconds([pid]) - before for pid, before in zip(pids, workers_before, strict=True)]
    server_cpu, client_cpu = sum(workers), time.process_time() - client_before
    other = machine_busy_seconds() - busy_before - server_cpu - client_cpu
    shares = [worker / server_cpu if server_cpu else 0.0 for worker in workers]
    return Run(latencies, elapsed, server_cpu, shares, client_cpu, max(0.0, other))


def load(base, method, path, body, clients, count, warm, servers, raw=False) -> Run:
    return asyncio.run(_load(base, method, path, body, clients, count, warm, servers, raw))


def in_process(seconds: float) -> tuple[list[float], float]:
    pack = load_pack(PACK)
    data = json.loads(json.dumps(CASE))
    latencies: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        result_to_dict(pack, calculate(pack, case_from_data(data, pack)))
        latencies.append(time.perf_counter() - t0)
    return latencies, time.perf_counter() - started


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def row(name: str, latencies: list[float], elapsed: float, cpu: str) -> list[str]:
    values = sorted(latencies)
    ms = [1000 * percentile(values, p) for p in (0.50, 0.90, 0.99)] + [1000 * values[-1]]
    return [name, f"{len(values):,}", *(f"{v:.2f}" for v in ms), f"{len(values) / elapsed:,.0f}", cpu]


def cpu_note(run: Run) -> str:
    count = len(run.latencies)
    cores = os.cpu_count() or 1
    split = "" if len(run.worker_share) < 2 else " (" + "/".join(f"{100 * s:.0f}%" for s in run.worker_share) + ")"
    return (
        f"server {1000 * run.server_cpu / count:.2f}{split}, client {1000 * run.client_cpu / count:.2f}; "
        f"others {100 * run.other_cpu / (run.elapsed * cores):.0f}% of machine"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="requests per client")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="uvicorn worker processes (default: cores)"
    )
    parser.add_argument("--in-process-seconds", type=float, default=3.0)
    parser.add_argument(
        "--client", choices=["httpx", "raw"], default="raw",
        help="httpx.AsyncClient (default), or a bare asyncio HTTP/1.1 client that costs the shared CPU less",
    )
    parser.add_argument("--probe-clients", type=int, default=10, help="health clients in the event-loop test")
    parser.add_argument(
        "--heavy-clients", type=int, default=None,
        help="clients posting the largest case meanwhile (default: 2 per worker, each worker's compute threads)",
    )
    parser.add_argument(
        "--protocol", choices=["bounded", "httptools", "both"], default="both",
        help="zhida's BoundedHttp (as zhida serve), uvicorn's own httptools protocol, or both side by side",
    )
    parser.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)  # internal: run one worker
    args = parser.parse_args()
    if args.serve_fd is not None:
        serve_worker(args.serve_fd, args.protocol)
        return

    body = json.dumps(CASE, ensure_ascii=False).encode("utf-8")
    raw = args.client == "raw"
    compared: list[tuple[str, Run, Run]] = []  # uvicorn's own protocol: the two loads, beside BoundedHttp's
    if args.protocol == "both":
        port, servers = start_servers(args.workers, "httptools")
        base = f"http://127.0.0.1:{port}"
        try:
            compared.append(("uvicorn httptools", load(base, "POST", "/api/v1/calculate", body, args.clients, args.requests, 3,
                                                       servers, raw),
                             load(base, "GET", "/api/v1/health", None, args.clients, args.requests, 3, servers, raw)))
        finally:
            stop_servers(servers)
    port, servers = start_servers(args.workers, "httptools" if args.protocol == "httptools" else "bounded")
    base = f"http://127.0.0.1:{port}"
    try:
        health = httpx.get(f"{base}/api/v1/health", timeout=10.0)
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        check = httpx.post(f"{base}/api/v1/calculate", content=body, headers={"content-type": "application/json"})
        total = check.json()["total"]
        assert total == "240000.01", total  # 200000 + 40000.01; the R&D report is a qualification
        warm = 3
        api = load(base, "POST", "/api/v1/calculate", body, args.clients, args.requests, warm, servers, raw)
        floor = load(base, "GET", "/api/v1/health", None, args.clients, args.requests, warm, servers, raw)
        largest = largest_case()
        check = httpx.post(f"{base}/api/v1/calculate", content=largest, headers={"content-type": "application/json"})
        assert check.status_code == 200 and check.json()["total"] == "200000.00", check.text[:200]
        heavy = args.heavy_clients if args.heavy_clients is not None else 2 * args.workers
        probes = args.probe_clients
        idle = load(base, "GET", "/api/v1/health", None, probes, args.requests, warm, servers, raw)
        loaded, heavy_latencies = busy(base, servers, raw, probes, args.requests, warm, heavy, largest)
    finally:
        stop_servers(servers)
    local, local_elapsed = in_process(args.in_process_seconds)

    p99 = 1000 * percentile(sorted(api.latencies), 0.99)
    verdict = f"goal p99 < {GOAL_P99_MS:.0f} ms: " + ("met" if p99 < GOAL_P99_MS else "missed")
    idle_p99 = 1000 * percentile(sorted(idle.latencies), 0.99)
    loaded_p99 = 1000 * percentile(sorted(loaded.latencies), 0.99)
    verdict += f"; health p99 idle {idle_p99:.2f} ms, while the largest cases are computed {loaded_p99:.2f} ms"
    table = Table(
        title=f"zhida API: {args.clients} concurrent keep-alive clients × {args.requests} requests, "
        f"uvicorn workers={args.workers}, client {args.client}, "
        f"protocol {'uvicorn httptools' if args.protocol == 'httptools' else 'BoundedHttp (zhida serve)'}",
        caption=verdict,
    )
    for column in ("what", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s", "CPU ms per request"):
        table.add_column(column, justify="left" if column in ("what", "CPU ms per request") else "right")
    table.add_row(*row("POST /api/v1/calculate (3 events)", api.latencies, api.elapsed, cpu_note(api)))
    table.add_row(*row("baseline: GET /api/v1/health", floor.latencies, floor.elapsed, cpu_note(floor)))
    for name, other_api, other_floor in compared:
        table.add_row(*row(f"  {name}: POST /api/v1/calculate", other_api.latencies, other_api.elapsed, cpu_note(other_api)))
        table.add_row(*row(f"  {name}: GET /api/v1/health", other_floor.latencies, other_floor.elapsed,
                           cpu_note(other_floor)))
    table.add_row(*row("in-process calculate + result_to_dict", local, local_elapsed, "1 thread, no HTTP"))
    table.add_section()
    table.add_row(*row(f"GET /api/v1/health, {probes} clients, idle", idle.latencies, idle.elapsed, cpu_note(idle)))
    table.add_row(*row(
        f"GET /api/v1/health, {probes} clients, while {heavy} post {MAX_CASE_EVENTS:,}-event cases",
        loaded.latencies, loaded.elapsed, cpu_note(loaded),
    ))
    table.add_row(*row(
        f"  meanwhile: POST {MAX_CASE_EVENTS:,} events ({MAX_BODY_BYTES:,} B), {heavy} clients",
        heavy_latencies, loaded.elapsed, "answer ~0.6 MB",
    ))
    console = Console(width=190)
    console.print(table)
    console.print(
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; the clients and the server share these cores",
        highlight=False,
    )


if __name__ == "__main__":
    main()

"""Scale benchmark: 20,000 validated deliveries through two qcluster processes on PostgreSQL and Redis.

    python -m bench.outbound_scale [--deliveries 20000] [--limit 40] [--latency 0.2] [--error-rate 0.01]
                                   [--database postgres://...] [--redis redis://...] [--counts-redis redis://...]
    python -m bench.outbound_scale --catchup [--catchup-deliveries 100000] [--missed-hours 1]
                                   [--catchup-budget SECONDS] [--odoo-latency SECONDS]

The production stack on this machine: PostgreSQL, Redis (django-q2's broker, the cache and the shared
rate limiter) and two `manage.py qcluster` processes. The Odoo 18 and AfterShip simulators run in their
own processes; AfterShip enforces `--limit` POST /trackings a second, answers after `--latency` seconds
and fails `--error-rate` of calls with a 5xx.

Scale (the default): `--deliveries` validated deliveries in Odoo (and the 9 of its recorded world). The
bench queues the scheduled pull (`sync.tasks.pull_deliveries`), and queues it again whenever a run ends
before every delivery is in (django-q2 stops a run at Q_TIMEOUT; its schedule would queue the next within
5 minutes); the workers drain the jobs the pull creates. Prints trackings created per second against the
limit, time to drain, 429s, parcels left without a tracking, SQL statements per job (counted inside the
workers, `bench.scale_settings`) and PostgreSQL transactions per job, Odoo RPCs per page of the pull, the
tasks the workers ran, CPU by process, and the workers' memory over the run.

Catch-up (`--catchup`): `--catchup-deliveries` deliveries validated over the last 48 h in Odoo (50,000 a
day by default), all but `--missed-hours` of them already tracked by the portal (an outage of the pull).
The bench queues the hourly catch-up (`sync.tasks.catchup_deliveries`) again each time one ends, until a
sweep of the 48 h is complete. Prints each run's time against Q_TIMEOUT, pages and RPCs, where each run
started reading against where the one before stopped, and whether the missed deliveries were found.

The Odoo simulator scans every record on every search; a real Odoo asks PostgreSQL. Unless
`--no-odoo-index`, the benchmark's Odoo process answers the pull's page reads (`write_date >= ...`,
ordered by write_date and id, with a limit) from a sorted index of the deliveries, with the same answer.
Likewise the AfterShip simulator finds a tracking by courier and number in a dict rather than a scan.

`--database` (default: shiptrack_scale on this machine's PostgreSQL) is dropped and created, and `--redis`
(default: database 15) flushed, before the run and again after it unless `--keep-database`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import worker_probes  # noqa: E402

API_KEY = "asat_bench_scale"
ODOO_KEY = "e7cab076b7ad4a90745ab1d66decba764b676077"
# The day the Odoo simulator's recorded world was validated (its transcripts keep their dates).
RECORDED_ON = datetime(2026, 11, 25, tzinfo=UTC)
CARRIERS = ((4, "DHL Express", "dhl"), (5, "FedEx", "fedex"), (6, "UPS", "ups"))
PARTNERS = [45, 46, 47, 48, 50, 51, 53, 55]
PAGE_ORDER = "write_date asc, id asc"


# -- the Odoo simulator in its own process ------------------------------------------------------------
def _index_the_page_reads(odoo_models, domain_module) -> None:
    """Answer the pull's page reads from a sorted (write_date, id) index, as PostgreSQL would from one.

    Only a read with a top-level `write_date >=` leaf, no `|` or `!`, ordered by write_date and id, with a
    limit and no offset, in a transaction that changed no delivery: the same ids as the scan, found by
    bisecting the index and testing the whole domain on the candidates in order until the limit.
    """
    picking = odoo_models.StockPicking
    scan = picking._search
    cache: dict[str, object] = {"table": None, "index": []}

    def floor(domain) -> datetime | None:
        lowest = None
        for leaf in domain:
            if leaf in ("|", "!"):
                return None
            if isinstance(leaf, list | tuple) and len(leaf) == 3 and leaf[0] == "write_date" and leaf[1] == ">=":
                value = datetime.strptime(leaf[2], "%Y-%m-%d %H:%M:%S")
                lowest = value if lowest is None else max(lowest, value)
        return lowest

    def indexed(self, domain, offset=0, limit=None, order=None):
        lowest = floor(domain or [])
        if (
            lowest is None
            or order != PAGE_ORDER
            or offset
            or not limit
            or "active" in self._fields
            or self.env.txn.changes.get("stock.picking")
        ):
            return scan(self, domain, offset=offset, limit=limit, order=order)
        self._check_access("read")
        table = self.env.txn.snapshot.get("stock.picking", {})
        if cache["table"] is not table:
            cache["index"] = sorted((row["write_date"], rid) for rid, row in table.items() if row.get("write_date"))
            cache["table"] = table
        index = cache["index"]
        predicate = domain_module.DomainCompiler(self).compile(list(domain))
        found = []
        position = bisect.bisect_left(index, (lowest, 0))
        while position < len(index) and len(found) < limit:
            rid = index[position][1]
            if predicate(rid):
                found.append(rid)
            position += 1
        return found

    picking._search = indexed


def _odoo_process(conn, options: dict) -> None:
    sys.path.insert(0, str(ROOT))
    from simulators.odoo import OdooSimulator, domain, transcript_world
    from simulators.odoo import models as odoo_models
    from simulators.odoo.seed import dhl_number, fedex_number, ups_number

    if options["index"]:
        _index_the_page_reads(odoo_models, domain)
    sim = OdooSimulator().start()
    transcript_world(sim)
    rng = random.Random(2026)
    generators = {4: dhl_number, 5: fedex_number, 6: ups_number}
    count, hours = options["deliveries"], options["hours"]
    now = sim.now().replace(microsecond=0)
    first = now - timedelta(hours=hours) + timedelta(minutes=5)
    step = (now - timedelta(minutes=1) - first) / max(count - 1, 1)
    numbers: set[str] = set()
    seeded: list[tuple] = []

    def number(carrier: int) -> str:
        while True:
            value = generators[carrier](rng)
            if value not in numbers:
                numbers.add(value)
                return value

    # One delivery through the ORM (defaults, sequence, locations), the others as copies of its row with
    # their own name, customer, carrier, number and times: 100,000 creates through the ORM take minutes.
    carrier = rng.choice(list(generators))
    with sim.transaction(uid=2, now=first) as env:
        template = (
            env["stock.picking"]
            .create(
                {
                    "name": "WH/OUT/S000000",
                    "picking_type_id": 2,
                    "partner_id": rng.choice(PARTNERS),
                    "carrier_id": carrier,
                    "carrier_tracking_ref": number(carrier),
                    "state": "done",
                    "date_done": first,
                    "origin": "Scale",
                }
            )
            .id
        )
    row = sim.db.committed_row("stock.picking", template)
    seeded.append((template, row["name"], row["carrier_tracking_ref"], carrier, first.isoformat()))
    base = sim.db.next_id("stock.picking")
    for start in range(1, count, 2000):
        with sim.transaction(uid=2) as env:
            for i in range(start, min(start + 2000, count)):
                stamp = (first + step * i).replace(microsecond=0)
                carrier = rng.choice(list(generators))
                rid, name = base + i - 1, f"WH/OUT/S{i:06d}"
                values = {
                    **row,
                    "name": name,
                    "partner_id": rng.choice(PARTNERS),
                    "carrier_id": carrier,
                    "carrier_tracking_ref": number(carrier),
                    "date_done": stamp,
                    "date": stamp,
                    "scheduled_date": stamp,
                    "create_date": stamp,
                    "write_date": stamp,
                }
                env.txn.insert("stock.picking", rid, values)
                seeded.append((rid, name, values["carrier_tracking_ref"], carrier, stamp.isoformat()))
        sim.db.bump_sequence("stock.picking", base + count)
    sim.clear_log()
    sim.faults.latency = options["latency"]
    conn.send((sim.url, seeded))
    while True:
        command, _arg = conn.recv()
        if command == "report":
            conn.send(
                {
                    "calls": Counter(f"{c.model}.{c.method}" for c in sim.rpc_calls),
                    "logins": sum(1 for e in sim.rpc_log if (e.service, e.method) == ("common", "authenticate")),
                }
            )
        elif command == "deliveries":  # what the pull looks for: validated outgoing deliveries with a number
            domain = [
                ("picking_type_code", "=", "outgoing"),
                ("state", "=", "done"),
                ("carrier_tracking_ref", "!=", False),
            ]
            conn.send([row["carrier_tracking_ref"] for row in sim.records("stock.picking", domain)])
        elif command == "page_reads":
            reads = []  # (answered at, domain) of every paged read of deliveries
            for request in sim.requests_to("/jsonrpc"):
                try:
                    args = json.loads(request.body)["params"]["args"]
                except (ValueError, KeyError, TypeError):
                    continue
                if len(args) > 6 and args[3:5] == ["stock.picking", "search_read"] and args[6].get("limit"):
                    reads.append((request.at, args[5][0] if args[5] else []))
            conn.send(reads)
        elif command == "stop":
            sim.stop()
            conn.send(True)
            return


class OdooControl:
    def __init__(self, *, deliveries: int, hours: float, latency: float, index: bool):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        options = {"deliveries": deliveries, "hours": hours, "latency": latency, "index": index}
        self.process = context.Process(target=_odoo_process, args=(child, options), daemon=True)
        self.process.start()
        self.url, self.seeded = self.conn.recv()

    def call(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()


# -- the AfterShip simulator in its own process --------------------------------------------------------
def _aftership_process(conn, latency: float, error_rate: float, limit: int) -> None:
    sys.path.insert(0, str(ROOT))
    from simulators.aftership import AfterShipSimulator

    class Indexed(AfterShipSimulator):
        """Finds a tracking by courier and number in a dict, not by scanning every tracking (20,000 here)."""

        def _create(self, body: dict) -> dict:
            data = super()._create(body)
            self.by_key[(data["slug"], data["tracking_number"])] = data["id"]
            return data

        def _by_key(self, slug: str, number: str):
            return self._store.get(self.by_key.get((slug, number), ""))

    sim = Indexed(api_keys=[API_KEY], seed=1)
    sim.by_key = {}
    sim.start()
    sim.rate_limits["POST /trackings"] = limit
    sim.faults.latency = latency
    sim.faults.error_rate = error_rate
    conn.send(sim.url)
    while True:
        command, _arg = conn.recv()
        if command == "report":
            posts = [(r.at, r.status) for r in sim.requests_to("/tracking/2026-07/trackings", "POST")]
            conn.send(
                {
                    "posts": posts,
                    "rate_limited": sim.stats.rate_limited,
                    "created": sim.stats.created,
                    "requests": dict(sim.stats.requests),
                }
            )
        elif command == "stop":
            sim.stop()
            conn.send(True)
            return


class AfterShipControl:
    def __init__(self, latency: float, error_rate: float, limit: int):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_aftership_process, args=(child, latency, error_rate, limit), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def call(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()


# -- the portal ------------------------------------------------------------------------------------------
def _environment(args, odoo_url: str, aftership_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ENV_FILE": "/nonexistent",
        "DJANGO_SETTINGS_MODULE": "bench.scale_settings",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database,
        "REDIS_URL": args.redis,
        "ODOO_URL": odoo_url,
        "ODOO_DB": "odoo18",
        "ODOO_USERNAME": "aftership-bot",
        "ODOO_API_KEY": ODOO_KEY,
        "ODOO_WEBHOOK_TOKEN": "bench-push-token",
        "AFTERSHIP_API_KEY": API_KEY,
        "AFTERSHIP_API_BASE": aftership_url,
        "AFTERSHIP_WEBHOOK_SECRETS": "bench",
        "WEBHOOK_URL_TOKEN": "bench",
        "AFTERSHIP_RATE_POST_TRACKINGS": str(args.limit),
        "AFTERSHIP_RECONCILE_INTERVAL_HOURS": "0",
        "LOG_LEVEL": "ERROR",
        "LOG_FORMAT": "text",
        # A queue of its own, should another benchmark's cluster share the Redis database.
        "Q_CLUSTER_NAME": "shiptrack-scale",
    }
    if args.catchup_budget is not None:
        env["SYNC_CATCHUP_BUDGET_SECONDS"] = str(args.catchup_budget)
    if not args.catchup:
        # The recorded world was validated on 2026-11-25: the first pull's window reaches it whatever the date.
        days = (datetime.now(UTC) - RECORDED_ON).days + 2
        env["SYNC_FULL_PULL_LOOKBACK_HOURS"] = str(max(48, 24 * days))
    return env


def _fresh(args, env: dict[str, str]) -> None:
    import psycopg
    import redis

    name = args.database.rsplit("/", 1)[1]
    with psycopg.connect(args.database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    for url in {args.redis, args.counts_redis}:
        redis.Redis.from_url(url).flushdb()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def _drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _django(env: dict[str, str]) -> None:
    os.environ.update({k: v for k, v in env.items() if k != "BENCH_QUERY_COUNTS"})
    import django

    django.setup()
    from django_q.models import Schedule

    from sync.models import CarrierMapping

    # Only the dispatcher runs on its schedule (the safety net that rings for due jobs); the bench queues
    # the pull or the catch-up itself, so that the clock starts when it does.
    Schedule.objects.exclude(func="sync.tasks.dispatch_jobs").delete()
    for carrier_id, name, slug in CARRIERS:
        CarrierMapping.objects.update_or_create(
            odoo_carrier_id=carrier_id, defaults={"odoo_carrier_name": name, "slug": slug}
        )


class Cluster:
    """Two `manage.py qcluster` processes (each with its own pool of workers), and their memory over time."""

    def __init__(self, env: dict[str, str], count: int, logs: Path):
        self.logs = logs
        self.processes = []
        for i in range(count):
            log = open(logs / f"qcluster-{i}.log", "wb")  # noqa: SIM115 - open for the process's life
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        self.samples: list[tuple[float, list[int], int, int]] = []  # (at, KiB per cluster, largest, processes)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_every, args=(2.0,), daemon=True)
        self._sampler.start()

    @staticmethod
    def _tree_rss(root: int) -> list[int]:
        """RSS (KiB) of a process and all its descendants."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [root]
        while todo:
            pid = todo.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            found.append(rss)
            todo.extend(children.get(pid, []))
        return found

    def _sample_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            trees = [self._tree_rss(p.pid) for p in self.processes]
            self.samples.append(
                (
                    time.time(),
                    [sum(t) for t in trees],
                    max((max(t) for t in trees if t), default=0),
                    sum(map(len, trees)),
                )
            )

    def timeouts(self) -> int:
        """Tasks django-q2 killed at Q_TIMEOUT so far (its log says so; no task result is saved)."""
        return sum(path.read_text(errors="replace").count("after timeout") for path in self.logs.glob("qcluster-*.log"))

    def rss_now(self) -> str:
        if not self.samples:
            return "-"
        return "+".join(f"{kib / 1024:.0f}" for kib in self.samples[-1][1]) + " MiB"

    def ready(self, timeout: float = 60) -> None:
        from django_q.brokers import get_broker
        from django_q.status import Stat

        broker = get_broker()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise SystemExit("a qcluster stopped at start; see its log")
            stats = Stat.get_all(broker=broker)
            if len([s for s in stats if s.status == "Idle"]) >= len(self.processes):
                return
            time.sleep(0.5)
        raise SystemExit("the qclusters did not become ready")

    def stop(self) -> None:
        self._stop.set()
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class CpuMeter:
    """CPU seconds spent by each part of the stack, and by the whole machine (shared with other work)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, parts: dict[str, list[int]]):
        self.parts = parts  # name -> root pids; their descendants count too

    @staticmethod
    def _processes() -> dict[int, tuple[int, str, float, float]]:
        """pid -> (ppid, command, own seconds, reaped children's seconds)."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            command = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            own = (int(fields[11]) + int(fields[12])) / CpuMeter.TICK
            reaped = (int(fields[13]) + int(fields[14])) / CpuMeter.TICK
            found[int(entry)] = (int(fields[1]), command, own, reaped)
        return found

    def snapshot(self) -> dict[str, float]:
        processes = self._processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in processes.items():
            children.setdefault(ppid, []).append(pid)

        def tree(root: int) -> float:
            total, todo = 0.0, [root]
            while todo:
                pid = todo.pop()
                if pid in processes:
                    _ppid, _command, own, reaped = processes[pid]
                    total += own + reaped
                todo.extend(children.get(pid, []))
            return total

        result = {name: sum(tree(pid) for pid in roots) for name, roots in self.parts.items()}
        result["the bench"] = sum(processes[os.getpid()][2:])
        postmasters = [
            pid
            for pid, (ppid, command, *_) in processes.items()
            if command == "postgres" and processes.get(ppid, (0, ""))[1] != "postgres"
        ]
        result["PostgreSQL"] = sum(tree(pid) for pid in postmasters)
        result["Redis"] = sum(own for ppid, command, own, _ in processes.values() if command == "redis-server")
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) for x in fields]
        result["machine busy"] = (sum(ticks) - ticks[3] - ticks[4]) / self.TICK
        result["machine all"] = sum(ticks) / self.TICK
        return result

    @staticmethod
    def line(before: dict[str, float], after: dict[str, float], jobs: int) -> str:
        spent = {name: after[name] - before[name] for name in before}
        busy, wall = spent.pop("machine busy"), spent.pop("machine all")
        parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in spent.items())
        other = busy - sum(spent.values())
        cores = os.cpu_count() or 1
        per_job = (
            f"; the portal's workers {spent.get('qclusters', 0) / max(jobs, 1) * 1000:.1f} ms a job" if jobs else ""
        )
        return (
            f"CPU over the run: the machine's {cores} cores {busy / wall:.0%} busy ({busy:.0f} s): {parts}, "
            f"everything else on the machine {other:.0f} s{per_job}"
        )


def _xacts() -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        return cursor.fetchone()


def _task(task_id: str, timeout: float):
    """The django-q2 task once a worker has finished it (None if none did within `timeout`)."""
    from django_q.tasks import fetch

    deadline = time.time() + timeout
    while time.time() < deadline:
        task = fetch(task_id)
        if task is not None:
            return task
        time.sleep(0.5)
    return None


# -- figures -------------------------------------------------------------------------------------------
def _rates(posts: list[tuple[float, int]]) -> dict:
    calls = sorted(at for at, _ in posts)
    created = sorted(at for at, status in posts if status == 201)
    if len(created) < 2:
        return {}
    end = created[int(len(created) * 0.97) - 1]
    start = calls[0]
    bins = Counter(int(at) for at in calls)
    seconds = [bins[t] for t in range(int(start) + 1, int(end))]
    best, lo = 0, 0
    for hi, stamp in enumerate(calls):
        while stamp - calls[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return {
        "calls_rate": sum(1 for at in calls if at <= end) / (end - start),
        "created_rate": sum(1 for at in created if at <= end) / (end - start),
        "median_second": statistics.median(seconds) if seconds else 0,
        "idle_seconds": sum(1 for n in seconds if n == 0),
        "busiest": best,
        "first": start,
        "last": created[-1],
        "p99": created[int(len(created) * 0.99) - 1],
    }


def _describe(shape: str) -> str:
    """A statement's shape in a few words: verb, table, and the columns it sets or filters on."""
    import re

    words = shape.split()
    verb = words[0].upper() if words else "?"
    tables = re.findall(r'(?:FROM|INTO|UPDATE|JOIN) "([a-z_0-9]+)"', shape)
    table = tables[0] if tables else ""
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return " ".join(words[:2]) if verb != "SAVEPOINT" else "SAVEPOINT"
    where = shape.split(" WHERE ", 1)[1] if " WHERE " in shape else ""
    filters = list(dict.fromkeys(re.findall(r'"([a-z_0-9]+)" (?:=|IN|<=|>=|<|>|IS|<>)', where)))
    text = f"{verb} {table}"
    if len(tables) > 1:
        text += " JOIN " + ", ".join(dict.fromkeys(tables[1:]))
    if verb == "UPDATE":
        text += " SET " + ", ".join(dict.fromkeys(re.findall(r'"([a-z_0-9]+)" = ', shape.split(" WHERE ")[0])))
    if verb == "INSERT":
        text += " (ON CONFLICT DO NOTHING)" if "ON CONFLICT" in shape else ""
    if filters:
        text += " WHERE " + ", ".join(filters)
    if "FOR UPDATE" in shape:
        text += " FOR UPDATE" + (" SKIP LOCKED" if "SKIP LOCKED" in shape else "")
    if "LIMIT 1" in shape and verb == "SELECT":
        text += " LIMIT 1"
    return text


def _print_statements(counted: dict, work: str, per: int, unit: str) -> None:
    shapes = counted.get(work, {})
    total = sum(n for n, _ in shapes.values())
    millis = sum(ms for _, ms in shapes.values())
    if not per:
        return
    print(
        f"  {work}: {total} statements, {total / per:.2f} per {unit}, {millis / per:.2f} ms of database time per {unit}"
    )
    merged: dict[str, list] = {}
    for shape, (n, ms) in shapes.items():
        entry = merged.setdefault(_describe(shape), [0, 0.0])
        entry[0] += n
        entry[1] += ms
    print(f"    {'per ' + unit:>8} {'ms':>7}")
    for text, (n, ms) in sorted(merged.items(), key=lambda item: -item[1][0]):
        if n / per >= 0.005:
            print(f"    {n / per:8.2f} {ms / per:7.2f}  {text}")


def _print_memory(cluster: Cluster) -> None:
    samples = cluster.samples
    if not samples:
        return
    totals = [sum(kib) for _, kib, _, _ in samples]
    largest = [big for _, _, big, _ in samples]
    print(
        f"qcluster memory (RSS, both clusters, {samples[0][3]} processes): first {totals[0] / 1024:.0f} MiB, "
        f"peak {max(totals) / 1024:.0f} MiB, last {totals[-1] / 1024:.0f} MiB; largest process: first "
        f"{largest[0] / 1024:.0f} MiB, peak {max(largest) / 1024:.0f} MiB, last {largest[-1] / 1024:.0f} MiB "
        f"({len(samples)} samples every 2 s)"
    )


# -- the scale run ---------------------------------------------------------------------------------------
def _scale_loop(args, cluster: Cluster, expected: int) -> tuple[float, float, list]:
    """Queue the pull, again whenever a run ends before every delivery is in, until no job is left open.

    Returns the start, the end, and each pull as (queued at, task); django-q2 saves a task that it stopped
    at Q_TIMEOUT as failed.
    """
    from django_q.tasks import async_task, fetch

    from sync.models import OPEN_JOB_STATES, Shipment, SyncJob

    started = time.time()
    pulls: list = []
    queued_at, pull_id = started, async_task("sync.tasks.pull_deliveries", task_name="bench-pull")
    next_report = started + 15
    deadline = started + args.max_minutes * 60
    while time.time() < deadline:
        time.sleep(2)
        held = Shipment.objects.count()
        open_jobs = SyncJob.objects.filter(state__in=OPEN_JOB_STATES).count()
        if pull_id:
            task = fetch(pull_id)
            if task is not None:
                pulls.append((queued_at, task))
                pull_id = None
                if held < expected:  # its schedule would run it again within 5 minutes
                    queued_at, pull_id = time.time(), async_task("sync.tasks.pull_deliveries", task_name="bench-pull")
        if time.time() >= next_report:
            next_report += 15
            tracked = Shipment.objects.exclude(aftership_id="").count()
            print(
                f"  {time.time() - started:5.0f} s: {held} parcels taken in, {tracked} tracked, "
                f"{open_jobs} jobs open; qclusters {cluster.rss_now()}",
                flush=True,
            )
        if pull_id is None and open_jobs == 0 and held >= expected:
            break
    return started, time.time(), pulls


def run_scale(args, env, odoo: OdooControl, aftership: AfterShipControl, cluster: Cluster) -> None:
    from django.db import connection
    from django.db.models import Count

    from sync.models import JobAttempt, JobKind, Shipment, SyncJob

    worker_probes.reset(args.counts_redis)
    own = [0]  # the bench's own statements, each a transaction of its own: taken off PostgreSQL's count

    def count_own(execute, sql, params, many, context):
        own[0] += 1
        return execute(sql, params, many, context)

    from sync.mapping import split_tracking_numbers

    # The seeded deliveries and those of the recorded world (one of which has two parcels).
    references = odoo.call("deliveries")
    expected = sum(len(split_tracking_numbers(ref)) for ref in references)
    meter = CpuMeter(
        {
            "qclusters": [p.pid for p in cluster.processes],
            "AfterShip simulator": [aftership.process.pid],
            "Odoo simulator": [odoo.process.pid],
        }
    )
    cpu_before = meter.snapshot()
    cluster.samples.clear()
    xacts_before, tuples_before = _xacts()
    with connection.execute_wrapper(count_own):
        started, drained, pulls = _scale_loop(args, cluster, expected)
    cpu_after = meter.snapshot()
    # Idle backends report their counts to PostgreSQL's statistics within 10 s; the workers add theirs to
    # Redis every second.
    time.sleep(11)
    xacts_after, tuples_after = _xacts()
    xacts = xacts_after - xacts_before - own[0] - 1
    counted = worker_probes.read(args.counts_redis)
    report = aftership.call("report")
    odoo_report = odoo.call("report")
    rates = _rates(report["posts"])
    done = SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, state="done").count()
    attempts = JobAttempt.objects.filter(job__kind=JobKind.CREATE_TRACKING).count()
    tracked = Shipment.objects.exclude(aftership_id="").count()
    statuses = Counter(status for _, status in report["posts"])
    jobs = {
        f"{kind} {state}": n
        for kind, state, n in SyncJob.objects.values_list("kind", "state")
        .annotate(n=Count("id"))
        .values_list("kind", "state", "n")
    }
    pages = len(odoo.call("page_reads"))  # every page the pulls read, those of a run stopped midway included
    rpcs = sum(odoo_report["calls"].values())
    created_rate = rates.get("created_rate", 0)

    print(f"\nresults ({args.deliveries} deliveries; AfterShip's limit {args.limit} POST /trackings a second)")
    rows = [
        ("trackings created", f"{report['created']} (answers to POST /trackings: {dict(statuses)})"),
        ("trackings created/s *", f"{created_rate:.1f} ({created_rate / args.limit:.0%} of the limit)"),
        (
            "POST /trackings calls/s *",
            f"{rates.get('calls_rate', 0):.1f} (the portal allows itself {args.limit * 0.96:.1f})",
        ),
        ("calls in the median second *", f"{rates.get('median_second', 0):.0f}"),
        ("seconds without a call *", f"{rates.get('idle_seconds', 0)}"),
        ("most calls in any 1 s span", f"{rates.get('busiest', 0)}"),
        ("first call", f"{rates.get('first', started) - started:.1f} s after the pull was queued"),
        ("time until 99% created", f"{rates.get('p99', started) - started:.1f} s"),
        (
            "time to drain",
            f"{drained - started:.1f} s (last tracking created at {rates.get('last', started) - started:.1f} s)",
        ),
        ("429s received", f"{report['rate_limited']}"),
        ("lost (no tracking at the end)", f"{expected - tracked} of {expected} parcels ({len(references)} deliveries)"),
        ("jobs", f"{jobs}"),
        ("tracking attempts", f"{attempts} for {done} tracking jobs done"),
    ]
    for label, value in rows:
        print(f"  {label:32} {value}")
    print("  * from the first call until 97% of the trackings exist")

    print("\nthe pull (sync.tasks.pull_deliveries)")
    for i, (queued_at, task) in enumerate(pulls, 1):
        began = worker_probes.task_started(args.counts_redis, task.id) or queued_at
        result = task.result if isinstance(task.result, dict) else {"stopped": str(task.result).split(" : ")[0]}
        figures = ", ".join(
            f"{k} {result[k]}" for k in ("pages", "pickings", "jobs_queued", "odoo_calls", "stopped") if k in result
        )
        print(
            f"  run {i}: queued at {queued_at - started:.0f} s, waited {began - queued_at:.0f} s for a worker, "
            f"ran {task.stopped.timestamp() - began:.1f} s: {figures}"
        )
    print(
        f"  Odoo RPCs per page: {rpcs / max(pages, 1):.2f} ({rpcs} calls for {pages} pages read, "
        f"a page begun by a run stopped midway included)"
    )
    print(f"  tasks the workers ran, by function: {worker_probes.tasks_run(args.counts_redis)}")
    print(f"  Odoo calls by method (whole run): {dict(odoo_report['calls'])}; logins: {odoo_report['logins']}")

    print("\nSQL statements, counted in the workers")
    _print_statements(counted, "drain", done, "job")
    _print_statements(counted, "pull", pages, "page")
    for work, shapes in sorted(counted.items()):
        if work not in ("drain", "pull"):
            print(f"  {work}: {sum(n for n, _ in shapes.values())} statements in all")
    print(
        f"PostgreSQL transactions over the run (pg_stat_database; the workers, pull included, not the bench): "
        f"{xacts}, {xacts / max(done, 1):.2f} per job; rows written {tuples_after - tuples_before}, "
        f"{(tuples_after - tuples_before) / max(done, 1):.1f} per job"
    )
    print(CpuMeter.line(cpu_before, cpu_after, done))
    _print_memory(cluster)


# -- the catch-up run ------------------------------------------------------------------------------------
def _seed_portal(seeded: list[tuple], missed: tuple[datetime, datetime]) -> int:
    """The portal already holds every delivery, tracked, except those validated in the `missed` window."""
    from sync.models import CarrierMapping, Shipment, ShipmentStatus

    mappings = {m.odoo_carrier_id: m for m in CarrierMapping.objects.all()}
    now = datetime.now(UTC)
    held, batch = 0, []
    for picking_id, name, number, carrier, done_at in seeded:
        validated = datetime.fromisoformat(done_at).replace(tzinfo=UTC)
        if missed[0] <= validated < missed[1]:
            continue
        mapping = mappings[carrier]
        batch.append(
            Shipment(
                picking_id=picking_id,
                picking_name=name,
                carrier=mapping,
                tracking_number=number,
                slug=mapping.slug,
                aftership_id=f"seed{picking_id:08d}",
                status=ShipmentStatus.PENDING,
                tag="Pending",
                odoo_validated_at=validated,
                odoo_write_date=validated,
                tracked_at=now,
            )
        )
        if len(batch) == 5000:
            Shipment.objects.bulk_create(batch)
            held += len(batch)
            batch = []
    Shipment.objects.bulk_create(batch)
    return held + len(batch)


def run_catchup(args, env, odoo: OdooControl, aftership: AfterShipControl, cluster: Cluster) -> None:
    from django.conf import settings
    from django_q.tasks import async_task

    from sync.models import OPEN_JOB_STATES, Shipment, SyncCursor, SyncJob
    from sync.pull import CATCHUP_CURSOR

    now = datetime.now(UTC)
    missed = (now - timedelta(hours=30), now - timedelta(hours=30 - args.missed_hours))
    missed_count = sum(
        1 for *_, done_at in odoo.seeded if missed[0] <= datetime.fromisoformat(done_at).replace(tzinfo=UTC) < missed[1]
    )
    started = time.time()
    held = _seed_portal(odoo.seeded, missed)
    print(
        f"portal holds {held} tracked parcels ({time.time() - started:.0f} s to write); "
        f"the {missed_count} deliveries validated in the {args.missed_hours:g} h from 30 h ago are missing",
        flush=True,
    )
    worker_probes.reset(args.counts_redis)
    meter = CpuMeter(
        {
            "qclusters": [p.pid for p in cluster.processes],
            "AfterShip simulator": [aftership.process.pid],
            "Odoo simulator": [odoo.process.pid],
        }
    )
    cpu_before = meter.snapshot()
    cluster.samples.clear()
    runs = []  # (task, result, began, ran, position after)
    sweep_started = time.time()
    for i in range(args.max_runs):
        queued_at = time.time()
        task_id = async_task("sync.tasks.catchup_deliveries", task_name=f"bench-catchup-{i + 1}")
        task = _task(task_id, timeout=15 * 60)
        if task is None:
            print(f"  run {i + 1}: no result within 15 minutes")
            break
        began = worker_probes.task_started(args.counts_redis, task.id) or queued_at
        ran = task.stopped.timestamp() - began
        cursor = SyncCursor.objects.get(name=CATCHUP_CURSOR)
        result = task.result if isinstance(task.result, dict) else {"stopped": str(task.result).split(" : ")[0]}
        position = ((cursor.last_run_summary or {}).get("sweep") or {}).get("position") or {}
        runs.append((task, result, began, ran, position))
        print(
            f"  run {i + 1}: waited {began - queued_at:.1f} s for a worker, ran {ran:.1f} s "
            f"(Q_TIMEOUT {settings.Q_TIMEOUT} s): {result.get('pages')} pages, {result.get('pickings')} deliveries "
            f"read, {result.get('odoo_calls')} Odoo RPCs, {result.get('shipments_new')} new parcels, "
            f"complete {result.get('complete')}; stopped at write_date {position.get('boundary', '-')}"
            + (f"; {result['stopped']}" if "stopped" in result else ""),
            flush=True,
        )
        if result.get("complete") or "stopped" in result:
            break
    sweep_seconds = time.time() - sweep_started
    deadline = time.time() + 600
    while SyncJob.objects.filter(state__in=OPEN_JOB_STATES).exists() and time.time() < deadline:
        time.sleep(1)
    drained = time.time() - sweep_started
    cpu_after = meter.snapshot()
    time.sleep(3)
    counted = worker_probes.read(args.counts_redis)
    reads = odoo.call("page_reads")
    odoo_report = odoo.call("report")

    print(
        f"\nresults ({args.catchup_deliveries} deliveries over 48 h; budget {settings.SYNC_CATCHUP_BUDGET_SECONDS:g} s"
        f" a run, Q_TIMEOUT {settings.Q_TIMEOUT} s)"
    )
    pages = sum(r.get("pages") or 0 for _, r, *_ in runs)
    pickings = sum(r.get("pickings") or 0 for _, r, *_ in runs)
    new = sum(r.get("shipments_new") or 0 for _, r, *_ in runs)
    rpcs = sum(r.get("odoo_calls") or 0 for _, r, *_ in runs)
    work = sum(ran for *_, ran, _ in runs)
    longest = max((ran for *_, ran, _ in runs), default=0)
    print(
        f"  full sweep: {len(runs)} runs, {work:.1f} s of work ({sweep_seconds:.1f} s from the first run queued to "
        f"the last done, back to back); longest run {longest:.1f} s against Q_TIMEOUT {settings.Q_TIMEOUT} s"
    )
    print(
        f"  read: {pickings} deliveries in {pages} pages ({len(reads)} page reads asked of Odoo); "
        f"Odoo RPCs per page {rpcs / max(pages, 1):.2f} ({rpcs} in all)"
    )
    print(f"  Odoo calls by method: {dict(odoo_report['calls'])}; logins {odoo_report['logins']}")
    print(f"  tasks the workers ran, by function: {worker_probes.tasks_run(args.counts_redis)}")
    for i in range(1, len(runs)):
        _task_i, _result, began, _ran, _position = runs[i]
        window = [d for at, d in reads if began <= at]
        first = window[0] if window else []
        boundary = next(
            (leaf[2] for leaf in first if isinstance(leaf, list) and leaf[:2] == ["write_date", ">="]), None
        )
        skipped = next((len(leaf[2]) for leaf in first if isinstance(leaf, list) and leaf[:2] == ["id", "not in"]), 0)
        previous = runs[i - 1][4]
        print(
            f"  run {i + 1} began at write_date >= {boundary} minus {skipped} ids already read; run {i} had stopped "
            f"at {previous.get('boundary')} with {len(previous.get('seen', []))} ids read at that second: "
            + ("resumed where it stopped" if boundary == previous.get("boundary") else "NOT where it stopped")
        )
    in_window = Shipment.objects.filter(odoo_validated_at__gte=missed[0], odoo_validated_at__lt=missed[1])
    print(
        f"  missed deliveries found: {in_window.count()} of {missed_count} ({new} new parcels in all); tracked "
        f"{in_window.exclude(aftership_id='').count()} of them {drained:.0f} s after the first run was queued"
    )
    print("\nSQL statements, counted in the workers")
    _print_statements(counted, "catch-up", pages, "page")
    for name, shapes in sorted(counted.items()):
        if name != "catch-up":
            print(f"  {name}: {sum(n for n, _ in shapes.values())} statements in all")
    print(CpuMeter.line(cpu_before, cpu_after, 0))
    _print_memory(cluster)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--limit", type=int, default=40, help="AfterShip's POST /trackings per second")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds AfterShip takes to answer")
    parser.add_argument("--error-rate", type=float, default=0.01, help="share of AfterShip calls failing (5xx)")
    parser.add_argument("--odoo-latency", type=float, default=0.0, help="seconds Odoo takes to answer a call")
    parser.add_argument(
        "--no-odoo-index", dest="odoo_index", action="store_false", help="let Odoo scan every delivery on each read"
    )
    parser.add_argument("--clusters", type=int, default=2, help="qcluster processes")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/shiptrack_scale")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/15", help="the portal's Redis (flushed before and after)"
    )
    parser.add_argument(
        "--counts-redis", help="where the workers count their statements (default: the portal's Redis, bench:* keys)"
    )
    parser.add_argument("--max-minutes", type=float, default=20, help="give up after this long")
    parser.add_argument(
        "--keep-database", action="store_true", help="leave the database and Redis for a look afterwards"
    )
    parser.add_argument("--catchup", action="store_true", help="measure the catch-up sweep instead")
    parser.add_argument("--catchup-deliveries", type=int, default=100000, help="deliveries over the 48 h")
    parser.add_argument("--missed-hours", type=float, default=1.0, help="hours of deliveries the portal missed")
    parser.add_argument("--catchup-budget", type=float, help="SYNC_CATCHUP_BUDGET_SECONDS (default: the portal's)")
    parser.add_argument("--max-runs", type=int, default=30, help="catch-up runs at most")
    args = parser.parse_args(argv)
    args.counts_redis = args.counts_redis or args.redis

    count = args.catchup_deliveries if args.catchup else args.deliveries
    hours = 48 if args.catchup else 2
    print(
        f"{'catch-up: ' if args.catchup else ''}{count} validated deliveries over the last {hours} h in the Odoo "
        f"simulator{' (paged reads indexed)' if args.odoo_index else ''}, Odoo answering after "
        f"{args.odoo_latency * 1000:.0f} ms; AfterShip: limit {args.limit} POST /trackings/s, "
        f"{args.latency * 1000:.0f} ms, {args.error_rate:.0%} 5xx; "
        f"{args.clusters} qcluster processes, PostgreSQL, Redis",
        flush=True,
    )
    started = time.time()
    aftership = AfterShipControl(args.latency, args.error_rate, args.limit)
    odoo = OdooControl(deliveries=count, hours=hours, latency=args.odoo_latency, index=args.odoo_index)
    print(f"simulators ready in {time.time() - started:.0f} s", flush=True)
    env = _environment(args, odoo.url, aftership.url)
    _fresh(args, env)
    _django(env)
    logs = Path(tempfile.mkdtemp(prefix="shiptrack-scale-"))
    cluster = Cluster({**env, "BENCH_QUERY_COUNTS": args.counts_redis}, args.clusters, logs)
    try:
        cluster.ready()
        print(f"{args.clusters} qclusters ready; their logs in {logs}", flush=True)
        if args.catchup:
            run_catchup(args, env, odoo, aftership, cluster)
        else:
            run_scale(args, env, odoo, aftership, cluster)
    finally:
        cluster.stop()
        aftership.call("stop")
        odoo.call("stop")
        from django.db import connections

        connections.close_all()
        if not args.keep_database:
            _drop_database(args.database)
            import redis

            for url in {args.redis, args.counts_redis}:
                redis.Redis.from_url(url).flushdb()


if __name__ == "__main__":
    main()

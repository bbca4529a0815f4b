"""Odoo-load benchmark: what each design adds to a delivery validation in a single-worker Odoo.

    python -m bench.odoo_load [--validations 150] [--round 25] [--rate 3] [--database URL] [--redis URL]

A warehouse validates deliveries back to back (at most `--rate` a second) over JSON-RPC, as Odoo's
client does, against the Odoo 18 simulator serving one request at a time and spending on each login
the CPU of Odoo 18's password hash (pbkdf2-sha512, 600,000 rounds). AfterShip (its own process) answers
after 200 ms and fails 5% of calls. Three designs, interleaved in rounds of `--round` validations:

- plain: Odoo alone, no tracking at all;
- portal: Odoo's "Send Webhook Notification" pushes each validation to the portal (gunicorn, 2 workers),
  whose worker (`qcluster`) reads the deliveries back and creates the trackings;
- in-line (the design the portal replaces): the validation itself calls AfterShip and waits for it.

A first round of each design warms the processes up (the worker's first tasks import their code, open
their connections and log in to Odoo); it is timed apart, as the portal starts once and then runs for
months. Prints, per design: validation median and p95, time added against plain, Odoo RPCs and logins
per delivery (the portal's), Odoo CPU seconds per delivery, trackings created and lost.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.outbound_backlog import API_KEY_INLINE, API_KEY_PORTAL, AfterShipControl  # noqa: E402

PUSH_TOKEN = "bench-push-token"
DESIGNS = ("plain", "portal", "in-line")


# -- the Odoo simulator in its own process, one request at a time -------------------------------------
def _odoo_process(conn, count: int, aftership_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    import requests

    from simulators.odoo import OdooSimulator, transcript_world
    from simulators.odoo import models as odoo_models
    from simulators.odoo.seed import dhl_number, fedex_number, ups_number

    sim = OdooSimulator(workers=1).start()
    transcript_world(sim)
    state = {"inline": False, "created": 0, "lost": 0}
    session = requests.Session()
    session.headers.update({"as-api-key": API_KEY_INLINE, "Content-Type": "application/json"})
    validate = odoo_models.StockPicking._button_validate

    def validate_with_inline_call(self):
        result = validate(self)
        if state["inline"]:  # an automated action calling AfterShip inside the validation, and waiting
            for rid in self._ids:
                carrier = {4: "dhl", 5: "fedex", 6: "ups"}.get(self._get(rid, "carrier_id"))
                body = {"tracking_number": self._get(rid, "carrier_tracking_ref"), "slug": carrier}
                try:
                    answer = session.post(f"{aftership_url}/tracking/2026-07/trackings", json=body, timeout=10)
                    state["created" if answer.status_code == 201 else "lost"] += 1
                except requests.RequestException:
                    state["lost"] += 1
        return result

    odoo_models.StockPicking._button_validate = validate_with_inline_call
    rng = random.Random(2026)
    generators = {4: dhl_number, 5: fedex_number, 6: ups_number}
    ids = []
    with sim.transaction(uid=2) as env:
        for i in range(count):
            carrier = rng.choice(list(generators))
            ids.append(
                env["stock.picking"]
                .create(
                    {
                        "name": f"WH/OUT/L{i:05d}",
                        "picking_type_id": 2,
                        "partner_id": rng.choice([45, 46, 47, 48, 50, 51, 53, 55]),
                        "carrier_id": carrier,
                        "carrier_tracking_ref": generators[carrier](rng),
                        "state": "assigned",
                        "origin": "Load",
                    }
                )
                .id
            )
    sim.clear_log()
    conn.send((sim.url, ids))
    automation = None
    while True:
        command, arg = conn.recv()
        if command == "push_to":
            automation = sim.add_webhook_automation(arg)
            sim.write("base.automation", automation, {"active": False})
            conn.send(True)
        elif command == "design":
            state["inline"] = arg == "in-line"
            sim.write("base.automation", automation, {"active": arg == "portal"})
            conn.send(True)
        elif command == "stats":
            conn.send(
                {
                    "cpu": time.process_time(),
                    "portal_calls": sum(1 for e in sim.rpc_log if e.service == "object" and e.uid == 8),
                    "portal_by_method": Counter(
                        f"{e.model}.{e.method}" for e in sim.rpc_log if e.service == "object" and e.uid == 8
                    ),
                    "logins": sum(1 for e in sim.rpc_log if (e.service, e.method) == ("common", "authenticate")),
                    "inline": dict(state),
                    "pushes": sorted(c.duration for c in sim.webhook_calls),
                }
            )
        elif command == "stop":
            sim.stop()
            conn.send(True)
            return


class OdooControl:
    def __init__(self, count: int, aftership_url: str):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_odoo_process, args=(child, count, aftership_url), daemon=True)
        self.process.start()
        self.url, self.picking_ids = self.conn.recv()

    def call(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()


# -- the portal -----------------------------------------------------------------------------------------
def _environment(args, odoo_url: str, aftership_url: str, workdir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "ENV_FILE": "/nonexistent",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": args.database or f"sqlite:///{workdir / 'load.sqlite3'}",
        "ODOO_URL": odoo_url,
        "ODOO_DB": "odoo18",
        "ODOO_USERNAME": "aftership-bot",
        "ODOO_API_KEY": "e7cab076b7ad4a90745ab1d66decba764b676077",
        "ODOO_WEBHOOK_TOKEN": PUSH_TOKEN,
        "AFTERSHIP_API_KEY": API_KEY_PORTAL,
        "AFTERSHIP_API_BASE": aftership_url,
        "AFTERSHIP_WEBHOOK_SECRETS": "bench",
        "WEBHOOK_URL_TOKEN": "bench",
        "LOG_LEVEL": "ERROR",
        "LOG_FORMAT": "text",
        "AFTERSHIP_RECONCILE_INTERVAL_HOURS": "0",
        # The AfterShip errors are retried within the run (the default backoff starts at 30 s).
        "SYNC_BACKOFF_BASE_SECONDS": "2",
    }
    if args.redis:
        env["REDIS_URL"] = args.redis
    return env


def _fresh_database(url: str | None) -> None:
    if not url:
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _portal(args, env: dict[str, str]) -> tuple[str, list[subprocess.Popen]]:
    _fresh_database(args.database)
    if args.redis:
        subprocess.run(
            [sys.executable, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()", args.redis],
            check=True,
        )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from django_q.models import Schedule; from sync.models import CarrierMapping as M\n"
        "Schedule.objects.exclude(func='sync.tasks.dispatch_jobs').delete()\n"
        "for i, n, s in ((4, 'DHL Express', 'dhl'), (5, 'FedEx', 'fedex'), (6, 'UPS', 'ups')):\n"
        "    M.objects.update_or_create(odoo_carrier_id=i, defaults={'odoo_carrier_name': n, 'slug': s})\n"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", setup], cwd=ROOT, env=env, check=True)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
    ]
    return f"http://127.0.0.1:{port}", processes


def _created_by_portal(env: dict[str, str], timeout: float) -> tuple[int, int, int]:
    """(trackings created, parcels still untracked, logins by worker process) once the portal's queue is empty."""
    code = (
        "import time, json\n"
        "from sync.models import Shipment, SyncJob, OPEN_JOB_STATES\n"
        f"deadline = time.time() + {timeout}\n"
        "while time.time() < deadline and SyncJob.objects.filter(state__in=OPEN_JOB_STATES).exists():\n"
        "    time.sleep(1)\n"
        "print(json.dumps([Shipment.objects.exclude(aftership_id='').count(),"
        " Shipment.objects.filter(aftership_id='').count()]))\n"
    )
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", code]
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    created, untracked = json.loads(out.stdout.strip().splitlines()[-1])
    return created, untracked, 0


# -- the warehouse ----------------------------------------------------------------------------------------
def _validate(session, odoo_url: str, picking_id: int) -> float:
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": picking_id,
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [
                "odoo18",
                2,
                "OdooAdmin18",
                "stock.picking",
                "button_validate",
                [[picking_id]],
                {"context": {"skip_sms": True}},
            ],
        },
    }
    started = time.monotonic()
    answer = session.post(f"{odoo_url}/jsonrpc", json=body, timeout=60).json()
    if "error" in answer:
        raise SystemExit(f"validation failed: {answer['error']['data']['message']}")
    return time.monotonic() - started


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.95))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--validations", type=int, default=150, help="validations per design")
    parser.add_argument("--round", type=int, default=25, help="validations of one design before the next")
    parser.add_argument("--rate", type=float, default=3.0, help="validations a second at most")
    parser.add_argument("--database", help="DATABASE_URL for the portal (default: a fresh SQLite file)")
    parser.add_argument("--redis", help="REDIS_URL for the portal (default: none)")
    args = parser.parse_args(argv)
    import requests

    print(
        f"{args.validations} validations per design, in rounds of {args.round}, at most {args.rate:g}/s; Odoo "
        f"simulator single-worker with Odoo 18's password hashing; AfterShip at 200 ms, 5% errors; portal on "
        f"{'PostgreSQL' if args.database else 'SQLite'}{' + Redis' if args.redis else ''}",
        flush=True,
    )
    aftership = AfterShipControl(0.2, 0.05)
    odoo = OdooControl((args.validations + args.round) * len(DESIGNS) + 1, aftership.url)
    workdir = Path(tempfile.mkdtemp(prefix="shiptrack-load-"))
    env = _environment(args, odoo.url, aftership.url, workdir)
    portal_url, processes = _portal(args, env)
    try:
        for _ in range(100):
            try:
                requests.get(f"{portal_url}/admin/login/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        time.sleep(3)  # the worker starts
        odoo.call("push_to", f"{portal_url}/odoo/webhook/picking?token={PUSH_TOKEN}")
        session = requests.Session()
        _validate(session, odoo.url, odoo.picking_ids[-1])  # the warehouse's own first check of its password
        pickings = iter(odoo.picking_ids[:-1])
        durations: dict[str, list[float]] = {design: [] for design in DESIGNS}
        warmup: dict[str, list[float]] = {design: [] for design in DESIGNS}
        for design in DESIGNS:
            odoo.call("design", design)
            for _ in range(args.round):
                started = time.monotonic()
                warmup[design].append(_validate(session, odoo.url, next(pickings)))
                time.sleep(max(0.0, 1 / args.rate - (time.monotonic() - started)))
            time.sleep(4)
        cpu: Counter = Counter()
        portal_before = odoo.call("stats")
        for _ in range(0, args.validations, args.round):
            for design in DESIGNS:
                odoo.call("design", design)
                before = odoo.call("stats")["cpu"]
                for _ in range(args.round):
                    started = time.monotonic()
                    durations[design].append(_validate(session, odoo.url, next(pickings)))
                    time.sleep(max(0.0, 1 / args.rate - (time.monotonic() - started)))
                if design == "portal":
                    time.sleep(4)  # the settle delay and the batch read belong to the portal's round
                cpu[design] += odoo.call("stats")["cpu"] - before
        created, untracked, _ = _created_by_portal(env, timeout=300)
        created -= args.round  # the warm-up round's parcels
        print(
            "warm-up round (not counted): "
            + ", ".join(
                f"{d} median {statistics.median(v) * 1000:.1f} ms max {max(v) * 1000:.1f} ms" for d, v in warmup.items()
            )
        )
        stats = odoo.call("stats")
        inline = {k: stats["inline"][k] - portal_before["inline"][k] for k in ("created", "lost")}
        n = args.validations
        plain_median, plain_p95 = statistics.median(durations["plain"]), _p95(durations["plain"])
        rows = []
        for design in DESIGNS:
            median, p95 = statistics.median(durations[design]), _p95(durations[design])
            rows.append((design, median, p95, median - plain_median, p95 - plain_p95, cpu[design] / n))
        header = f"{'median':>9} {'p95':>9} {'added (median)':>15} {'added (p95)':>12} {'Odoo CPU/delivery':>18}"
        print(f"\n{'':10} {header}")
        for design, median, p95, added_median, added_p95, cpu_per in rows:
            print(
                f"{design:10} {median * 1000:7.1f}ms {p95 * 1000:7.1f}ms {added_median * 1000:13.1f}ms "
                f"{added_p95 * 1000:10.1f}ms {cpu_per * 1000:16.1f}ms"
            )
        portal_calls = stats["portal_calls"] - portal_before["portal_calls"]
        by_method = Counter(stats["portal_by_method"]) - Counter(portal_before["portal_by_method"])
        inline_added = rows[2][3], rows[2][4]
        portal_added = rows[1][3], rows[1][4]
        print(
            f"\nportal: {portal_calls / n:.2f} Odoo RPCs per delivery ({portal_calls} calls: {dict(by_method)}); "
            f"{stats['logins']} login(s) in all, warm-up included"
        )
        pushes = stats["pushes"]
        if pushes:
            print(
                f"portal: the push itself, as Odoo timed it: median {statistics.median(pushes) * 1000:.1f} ms, "
                f"p95 {_p95(pushes) * 1000:.1f} ms ({len(pushes)} pushes)"
            )
        print(f"portal: {created} trackings created, {untracked} parcels untracked (lost) of {n} validated")
        print(f"in-line: {inline['created']} trackings created, {inline['lost']} lost of {n} validated")
        for label, index in (("median", 0), ("p95", 1)):
            share = portal_added[index] / inline_added[index] if inline_added[index] > 0 else float("nan")
            print(f"time the portal adds, as a share of what the in-line call adds ({label}): {share:.0%}")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        odoo.call("stop")
        aftership.call("stop")


if __name__ == "__main__":
    threading.excepthook = lambda hook_args: None
    main()

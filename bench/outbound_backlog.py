"""Outbound backlog benchmark: 1,000 validated deliveries to AfterShip, in-line calls vs the portal.

    python -m bench.outbound_backlog [--deliveries 1000] [--latency 0.2] [--error-rate 0.05]
                                     [--outage-at 20] [--outage 60] [--stations 6] [--threads 8]

Both designs meet the same AfterShip simulator (own process): `--latency` per call, its documented
limit of 20 creations/s, `--error-rate` transient 5xx, and one outage of `--outage` seconds starting
`--outage-at` seconds into each run.

- In-line (the design the portal replaces): an Odoo automated action makes one blocking create call
  per validated delivery inside the validation, from `--stations` packing stations at once, and only
  logs a failure.
- The portal: one incremental pull from the Odoo simulator, then the job machinery (`jobs_drain`, the
  code the django-q2 workers run) with the shared rate limiter, backoff and 24 h expiry.
- The push endpoint: Odoo's automation posting to the portal under gunicorn, timed from Odoo's side.

Prints, for each design: trackings created per second, time to drain, 429s received, trackings lost,
RPCs to Odoo, and the time added to one delivery validation.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_KEY_INLINE = "asat_bench_inline"
API_KEY_PORTAL = "asat_bench_portal"
ODOO_KEY = "e7cab076b7ad4a90745ab1d66decba764b676077"
PUSH_TOKEN = "bench-push-token"


# -- the AfterShip simulator in its own process ------------------------------------------------------
def _aftership_process(conn, latency: float, error_rate: float) -> None:
    sys.path.insert(0, str(ROOT))
    from simulators.aftership import AfterShipSimulator

    sim = AfterShipSimulator(api_keys=[API_KEY_INLINE, API_KEY_PORTAL], seed=1).start()
    sim.faults.latency = latency
    sim.faults.error_rate = error_rate
    conn.send(sim.url)
    while True:
        command, arg = conn.recv()
        if command == "outage":
            sim.faults.start_outage(arg)
            conn.send(True)
        elif command == "reset":
            sim.reset()
            sim.clear_log()
            sim.faults.reset()
            sim.faults.latency, sim.faults.error_rate = latency, error_rate
            conn.send(True)
        elif command == "report":
            posts = [(r.at, r.status) for r in sim.requests_to("/tracking/2026-07/trackings", "POST")]
            conn.send({"posts": posts, "rate_limited": sim.stats.rate_limited, "trackings": len(sim.trackings)})
        elif command == "stop":
            sim.stop()
            conn.send(True)
            return


class AfterShipControl:
    def __init__(self, latency: float, error_rate: float):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_aftership_process, args=(child, latency, error_rate), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def call(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()

    def outage_later(self, delay: float, seconds: float) -> threading.Timer:
        timer = threading.Timer(delay, self.call, args=("outage", seconds))
        timer.daemon = True
        timer.start()
        return timer


# -- figures -----------------------------------------------------------------------------------------
def _outside_outage(stamps: list[float], outage: tuple[float, float], created: list[float]) -> float:
    """Events per second from the first call to the end of the main wave, the outage taken out.

    The main wave ends when 97% of the trackings exist; the last few percent are jobs waiting out their
    backoff after a 5xx, and their time shows in "time to drain", not here.
    """
    if len(created) < 2:
        return 0.0
    start, end = min(stamps), created[int(len(created) * 0.97) - 1]
    overlap = max(0.0, min(end, outage[1]) - max(start, outage[0]))
    inside = [s for s in stamps if start <= s <= end and not outage[0] <= s < outage[1]]
    return len(inside) / (end - start - overlap)


def _median_second(stamps: list[float], outage: tuple[float, float], created: list[float]) -> float:
    """Calls in the median 1-second window (AfterShip's fixed windows) of the main wave, outside the outage."""
    if len(created) < 2:
        return 0.0
    start, end = int(min(stamps)), int(created[int(len(created) * 0.97) - 1])
    bins = Counter(int(s) for s in stamps)
    seconds = [bins[t] for t in range(start, end + 1) if not outage[0] - 1 < t < outage[1] + 1]
    return statistics.median(seconds) if seconds else 0.0


def _figures(aftership: AfterShipControl, started: float, args) -> dict:
    report = aftership.call("report")
    calls = sorted(at for at, _status in report["posts"])
    created = sorted(at for at, status in report["posts"] if status == 201)
    outage = (started + args.outage_at, started + args.outage_at + args.outage)
    return {
        "created": len(created),
        "to_99": (created[int(len(created) * 0.99) - 1] - started) if created else 0.0,
        "calls_median": _median_second(calls, outage, created),
        "calls_rate": _outside_outage(calls, outage, created),
        "created_rate": _outside_outage(created, outage, created),
        "busiest": _busiest_second(calls),
        "429s": report["rate_limited"],
    }


def _busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, stamp in enumerate(stamps):
        while stamp - stamps[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"median {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


# -- the design the portal replaces ------------------------------------------------------------------
def run_inline(args, aftership: AfterShipControl, numbers: list[tuple[str, str]]) -> dict:
    import requests

    work: queue.Queue = queue.Queue()
    for item in numbers:
        work.put(item)
    durations: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def station() -> None:
        session = requests.Session()
        session.headers.update({"as-api-key": API_KEY_INLINE, "Content-Type": "application/json"})
        while True:
            try:
                slug, number = work.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            try:
                response = session.post(
                    f"{aftership.url}/tracking/2026-07/trackings",
                    json={"tracking_number": number, "slug": slug},
                    timeout=10,
                )
                outcome = "created" if response.status_code == 201 else f"lost ({response.status_code})"
            except requests.RequestException as exc:
                outcome = f"lost ({type(exc).__name__})"
            with lock:
                durations.append(time.monotonic() - started)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    started = time.time()
    aftership.outage_later(args.outage_at, args.outage)
    stations = [threading.Thread(target=station) for _ in range(args.stations)]
    for thread in stations:
        thread.start()
    for thread in stations:
        thread.join()
    elapsed = time.time() - started
    return {
        **_figures(aftership, started, args),
        "elapsed": elapsed,
        "lost": len(numbers) - outcomes.get("created", 0),
        "lost_by": {k: v for k, v in outcomes.items() if k != "created"},
        "odoo_rpcs": "0 (runs inside Odoo)",
        "validation": _ms(durations),
    }


# -- the portal --------------------------------------------------------------------------------------
def _configure_django(args, aftership_url: str, odoo_url: str, workdir: Path) -> None:
    os.environ.update(
        {
            "ENV_FILE": "/nonexistent",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": args.database or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "ODOO_URL": odoo_url,
            "ODOO_DB": "odoo18",
            "ODOO_USERNAME": "aftership-bot",
            "ODOO_API_KEY": ODOO_KEY,
            "ODOO_WEBHOOK_TOKEN": PUSH_TOKEN,
            "AFTERSHIP_API_KEY": API_KEY_PORTAL,
            "AFTERSHIP_API_BASE": aftership_url,
            "AFTERSHIP_WEBHOOK_SECRETS": "bench",
            "WEBHOOK_URL_TOKEN": "bench",
            "LOG_LEVEL": "ERROR",
            "LOG_FORMAT": "text",
            "SYNC_FULL_PULL_LOOKBACK_HOURS": "24",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed_backlog(odoo, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """`count` validated deliveries in batches (as warehouse shifts commit them), DHL, FedEx and UPS."""
    from simulators.odoo import transcript_world
    from simulators.odoo.seed import dhl_number, fedex_number, ups_number

    transcript_world(odoo)
    carriers = {4: ("dhl", dhl_number), 5: ("fedex", fedex_number), 6: ("ups", ups_number)}
    partners = [45, 46, 47, 48, 50, 51, 53, 55]
    numbers = []
    start = odoo.now() - timedelta(hours=2)
    for batch in range(0, count, 50):
        stamp = start + timedelta(seconds=batch)
        with odoo.transaction(uid=2, now=stamp) as env:
            for i in range(batch, min(batch + 50, count)):
                carrier = rng.choice(list(carriers))
                slug, generator = carriers[carrier]
                number = generator(rng)
                numbers.append((slug, number))
                env["stock.picking"].create(
                    {
                        "name": f"WH/OUT/B{i:05d}",
                        "picking_type_id": 2,
                        "partner_id": rng.choice(partners),
                        "carrier_id": carrier,
                        "carrier_tracking_ref": number,
                        "state": "done",
                        "date_done": stamp,
                        "origin": "Backlog",
                    }
                )
    return numbers


def _drain_until_empty(args, deadline: float) -> None:
    from django.db.models import Min
    from django.utils import timezone

    from sync.jobs import jobs_drain
    from sync.models import OPEN_JOB_STATES, SyncJob

    while time.time() < deadline:
        jobs_drain(threads=args.threads, budget_seconds=30)
        open_jobs = SyncJob.objects.filter(state__in=OPEN_JOB_STATES)
        if not open_jobs.exists():
            return
        next_due = open_jobs.aggregate(at=Min("next_attempt_at"))["at"]
        time.sleep(min(max((next_due - timezone.now()).total_seconds(), 0.05), 5))


def run_portal(args, aftership: AfterShipControl, odoo) -> dict:
    from django.db.models import Count

    from sync.clients import odoo_client
    from sync.models import CarrierMapping, Shipment, SyncJob
    from sync.pull import pull_incremental

    for carrier_id, name, slug in ((4, "DHL Express", "dhl"), (5, "FedEx", "fedex"), (6, "UPS", "ups")):
        CarrierMapping.objects.update_or_create(
            odoo_carrier_id=carrier_id, defaults={"odoo_carrier_name": name, "slug": slug}
        )
    odoo.rpc_calls.clear()
    started = time.time()
    aftership.outage_later(args.outage_at, args.outage)
    with odoo_client() as client:
        pull = pull_incremental(client)
    _drain_until_empty(args, deadline=started + 24 * 3600)
    elapsed = time.time() - started
    untracked = Shipment.objects.filter(aftership_id="").count()
    return {
        **_figures(aftership, started, args),
        "elapsed": elapsed,
        "lost": untracked,
        "lost_by": {"flagged for review": Shipment.objects.filter(needs_review=True).count()} if untracked else {},
        "odoo_rpcs": f"{len(odoo.rpc_calls)} ({pull.pages} pages of {pull.pickings} deliveries)",
        "jobs": dict(SyncJob.objects.values_list("state").annotate(n=Count("id")).order_by()),
    }


def measure_push(args, odoo) -> str:
    """Odoo validates deliveries with the push automation pointing at the portal under gunicorn."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import requests

        for _ in range(100):
            if server.poll() is not None:
                raise SystemExit("gunicorn did not start")
            try:
                requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        odoo.add_webhook_automation(f"http://127.0.0.1:{port}/odoo/webhook/picking?token={PUSH_TOKEN}")
        rng = random.Random(7)
        durations = []
        for i in range(args.pushes):
            with odoo.transaction(uid=2) as env:
                picking = env["stock.picking"].create(
                    {
                        "name": f"WH/OUT/P{i:05d}",
                        "picking_type_id": 2,
                        "partner_id": 46,
                        "carrier_id": 6,
                        "state": "assigned",
                        "origin": "Push",
                    }
                )
            from simulators.odoo.seed import ups_number

            calls = odoo.validate_picking(picking.id, ups_number(rng))
            durations += [c.duration for c in calls if c.status == 202]
        return f"{_ms(durations)} ({len(durations)}/{args.pushes} pushes answered 202)"
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--outage-at", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--stations", type=int, default=6, help="packing stations validating at once (in-line)")
    parser.add_argument("--threads", type=int, default=8, help="portal calls in flight")
    parser.add_argument("--pushes", type=int, default=100, help="validations timed through the push endpoint")
    parser.add_argument("--database", help="DATABASE_URL for the portal (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    print(
        f"{args.deliveries} deliveries; AfterShip at {args.latency * 1000:.0f} ms, limit 20 creations/s, "
        f"{args.error_rate:.0%} transient 5xx, outage of {args.outage:.0f} s from t={args.outage_at:.0f} s",
        flush=True,
    )
    aftership = AfterShipControl(args.latency, args.error_rate)
    workdir = Path(tempfile.mkdtemp(prefix="shiptrack-bench-"))
    from simulators.odoo import OdooSimulator

    odoo = OdooSimulator().start()
    _configure_django(args, aftership.url, odoo.url, workdir)
    numbers = _seed_backlog(odoo, args.deliveries, random.Random(2026))

    print(f"\n[1/3] in-line create calls from {args.stations} stations ...", flush=True)
    inline = run_inline(args, aftership, numbers)
    aftership.call("reset")
    time.sleep(1.5)  # let the simulator's rate windows and the outage timer settle
    print(f"[2/3] the portal: pull, then {args.threads} calls in flight through the job machinery ...", flush=True)
    portal = run_portal(args, aftership, odoo)
    print(f"[3/3] the push endpoint under gunicorn: {args.pushes} validations ...", flush=True)
    portal["validation"] = measure_push(args, odoo)

    rows = [
        ("trackings created", "created", "{}"),
        ("calls in the median second *", "calls_median", "{:.0f}"),
        ("POST /trackings calls/s *", "calls_rate", "{:.1f}"),
        ("trackings created/s *", "created_rate", "{:.1f}"),
        ("most calls in any 1 s span", "busiest", "{}"),
        ("time until 99% created", "to_99", "{:.1f} s"),
        ("time to drain", "elapsed", "{:.1f} s"),
        ("429s received", "429s", "{}"),
        ("trackings lost", "lost", "{}"),
        ("RPCs to Odoo", "odoo_rpcs", "{}"),
        ("added to one validation", "validation", "{}"),
    ]
    print(f"\n{'':30} {'in-line (replaced)':>38} {'portal':>44}")
    for label, key, fmt in rows:
        print(f"{label:30} {fmt.format(inline[key]):>38} {fmt.format(portal[key]):>44}")
    print("* outside the outage, until 97% of the trackings exist; AfterShip's limit is 20 calls/s")
    if inline["lost_by"]:
        print(f"\nin-line losses: {inline['lost_by']}")
    print(f"portal jobs by state: {portal['jobs']}")
    aftership.call("stop")
    odoo.stop()


if __name__ == "__main__":
    main()

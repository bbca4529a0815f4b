"""Write-back benchmark: AfterShip's news for 500 parcels reaches their Odoo delivery orders.

    python -m bench.writeback [--shipments 500] [--latency 0.1] [--outage 60] [--senders 16]
                              [--database postgres://...] [--redis redis://...]

The production stack on this machine: PostgreSQL, Redis, the portal under gunicorn (2 workers) taking
the webhooks, and two `qcluster` processes applying them and writing to Odoo. The Odoo 18 simulator runs
in its own process and answers every call after `--latency` seconds.

Each parcel goes Label created, In transit, Out for delivery, Delivered: four signed webhooks, 2,000 in
all for 500 parcels, posted by `--senders` connections at once, one journey step after the other across
all parcels (as carriers scan through the day). Two runs, each on a fresh database and Odoo:

1. Odoo up: time from the last webhook answered to the last change of status written to Odoo, and the
   Odoo RPCs per change of status.
2. Odoo down for `--outage` seconds from the moment half of the webhooks were sent: at the end, every
   change of status is in Odoo, in order, none twice.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ODOO_KEY = "e7cab076b7ad4a90745ab1d66decba764b676077"
SECRET = "bench-webhook-secret"
URL_TOKEN = "bench-url-token"
JOURNEY = [
    ("InfoReceived", "InfoReceived_001", "Info Received", "Shipment information received", "Leipzig, DE"),
    ("InTransit", "InTransit_007", "Departure Scan", "Departed facility", "Leipzig, DE"),
    ("OutForDelivery", "OutForDelivery_001", "Out for Delivery", "With delivery courier", "Berlin, DE"),
    ("Delivered", "Delivered_001", "Delivered", "Delivered", "Berlin, DE"),
]
EXPECTED_NOTES = ["Label created", "In transit", "Out for delivery", "Delivered"]


# -- the Odoo simulator in its own process -------------------------------------------------------------
def _odoo_process(conn, latency: float, shipments: int) -> None:
    sys.path.insert(0, str(ROOT))
    from simulators.odoo import OdooSimulator, transcript_world

    sim = OdooSimulator().start()

    def fresh() -> list[int]:
        sim.reset()
        transcript_world(sim)
        sim.add_custom_field("stock.picking", "x_aftership_expected_delivery", "date", "Expected Delivery")
        sim.add_custom_field("stock.picking", "x_aftership_tracking_url", "char", "Tracking Page")
        ids = []
        with sim.transaction(uid=2) as env:
            for i in range(shipments):
                picking = env["stock.picking"].create(
                    {
                        "name": f"WH/OUT/W{i:05d}",
                        "picking_type_id": 2,
                        "partner_id": 45,
                        "carrier_id": 4,
                        "carrier_tracking_ref": f"{4800000000 + i}",
                        "state": "done",
                        "origin": "Bench",
                    }
                )
                ids.append(picking.id)
        sim.clear_log()
        sim.faults.latency = latency
        return ids

    conn.send((sim.url, fresh()))
    while True:
        command, arg = conn.recv()
        if command == "fresh":
            conn.send(fresh())
        elif command == "outage":
            sim.faults.outage = bool(arg)
            conn.send(True)
        elif command == "report":
            notes: dict[int, list[str]] = {}
            for message in sim.records("mail.message", [("model", "=", "stock.picking")]):
                if message["subtype_id"] == 2:  # mail.mt_note
                    text = message["body"].split("</b>")[0].removeprefix("<p><b>")
                    notes.setdefault(message["res_id"], []).append((message["id"], text))
            conn.send(
                {
                    "notes": {rid: [text for _id, text in sorted(items)] for rid, items in notes.items()},
                    "calls": Counter(f"{c.model}.{c.method}" for c in sim.rpc_calls),
                    "logins": sum(1 for e in sim.rpc_log if e.service == "common" and e.method == "authenticate"),
                    "status_fields": Counter(
                        str(p.get("x_aftership_status"))
                        for p in sim.records("stock.picking", [("origin", "=", "Bench")])
                    ),
                }
            )
        elif command == "stop":
            sim.stop()
            conn.send(True)
            return


class OdooControl:
    def __init__(self, latency: float, shipments: int):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_odoo_process, args=(child, latency, shipments), daemon=True)
        self.process.start()
        self.url, self.picking_ids = self.conn.recv()

    def call(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()


# -- the portal's processes ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(args, odoo_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENV_FILE": "/nonexistent",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
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
        "AFTERSHIP_API_KEY": "asat_bench",
        "AFTERSHIP_API_BASE": "http://127.0.0.1:9",
        "AFTERSHIP_WEBHOOK_SECRETS": SECRET,
        "WEBHOOK_URL_TOKEN": URL_TOKEN,
        "LOG_LEVEL": "ERROR",
        "LOG_FORMAT": "text",
        "AFTERSHIP_RECONCILE_INTERVAL_HOURS": "0",
    }


def _fresh_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


class Portal:
    """gunicorn with 2 workers and two qcluster processes, on a fresh database."""

    def __init__(self, args, env: dict[str, str]):
        self.env = env
        _fresh_database(args.database)
        subprocess.run(
            [sys.executable, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()", args.redis],
            check=True,
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "portal.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]

    def start_workers(self) -> None:
        for _ in range(2):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def _seed_shipments(picking_ids: list[int]) -> None:
    from django_q.models import Schedule

    from sync.models import CarrierMapping, Shipment, ShipmentStatus

    # The write-back path only: no pull from Odoo, no reconciliation; the dispatcher stays (retries).
    Schedule.objects.exclude(func="sync.tasks.dispatch_jobs").delete()
    mapping = CarrierMapping.objects.create(odoo_carrier_id=4, odoo_carrier_name="DHL Express", slug="dhl")
    Shipment.objects.bulk_create(
        Shipment(
            picking_id=picking_id,
            picking_name=f"WH/OUT/W{i:05d}",
            sale_order_id=25,
            sale_order_name="S00025",
            partner_id=45,
            carrier=mapping,
            tracking_number=f"{4800000000 + i}",
            slug="dhl",
            aftership_id=f"bench{i:05d}",
            status=ShipmentStatus.PENDING,
            tag="Pending",
        )
        for i, picking_id in enumerate(picking_ids)
    )


# -- AfterShip's webhooks -----------------------------------------------------------------------------
def _webhook(i: int, step: int, start: datetime) -> bytes:
    checkpoints = []
    for k in range(step + 1):
        tag, subtag, subtag_message, message, place = JOURNEY[k]
        checkpoints.append(
            {
                "checkpoint_time": (start + timedelta(hours=k, seconds=i)).strftime("%Y-%m-%dT%H:%M:%S"),
                "slug": "dhl",
                "location": place,
                "message": message,
                "tag": tag,
                "subtag": subtag,
                "subtag_message": subtag_message,
            }
        )
    tag, subtag, subtag_message, _message, _place = JOURNEY[step]
    updated = (start + timedelta(hours=step, seconds=i, minutes=1)).replace(tzinfo=UTC)
    edd = (start + timedelta(days=1)).date().isoformat()
    payload = {
        "event": "tracking_update",
        "event_id": str(uuid.uuid4()),
        "is_tracking_first_tag": True,
        "msg": {
            "id": f"bench{i:05d}",
            "tracking_number": f"{4800000000 + i}",
            "slug": "dhl",
            "tag": tag,
            "subtag": subtag,
            "subtag_message": subtag_message,
            "updated_at": updated.isoformat(),
            "checkpoints": checkpoints,
            "courier_tracking_link": f"https://www.dhl.com/en/express/tracking.html?AWB={4800000000 + i}",
            "latest_estimated_delivery": {"type": "specific", "source": "Carrier EDD", "datetime": edd},
        },
        "ts": int(updated.timestamp()),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _send_all(portal_url: str, shipments: int, senders: int, halfway: threading.Event) -> tuple[float, Counter]:
    import requests

    start = datetime(2026, 11, 25, 6, 0, 0)
    work: queue.Queue = queue.Queue()
    for step in range(len(JOURNEY)):
        for i in range(shipments):
            work.put((i, step))
    total = work.qsize()
    sent = Counter()
    lock = threading.Lock()

    def sender() -> None:
        session = requests.Session()
        while True:
            try:
                i, step = work.get_nowait()
            except queue.Empty:
                return
            body = _webhook(i, step, start)
            signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
            for _attempt in range(5):  # AfterShip resends what was not answered 2xx
                try:
                    answer = session.post(
                        f"{portal_url}/aftership/webhook/tracking?token={URL_TOKEN}",
                        data=body,
                        headers={"Content-Type": "application/json", "aftership-hmac-sha256": signature},
                        timeout=30,
                    )
                    status = answer.status_code
                except requests.RequestException:
                    status = 0
                if 200 <= status < 300:
                    break
                time.sleep(1)
            with lock:
                sent[status] += 1
                if sum(sent.values()) >= total // 2:
                    halfway.set()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic(), sent


def _wait_until_applied(expected: int, deadline: float) -> float | None:
    from sync.models import TrackingEvent

    while time.monotonic() < deadline:
        if TrackingEvent.objects.filter(state="processed").count() >= expected:
            return time.monotonic()
        time.sleep(0.2)
    return None


def _wait_until_written(expected: int, deadline: float) -> float | None:
    """Until every change of status is written and no delivery has news for Odoo left (fields included)."""
    from sync.models import Shipment, StatusChange

    while time.monotonic() < deadline:
        written = StatusChange.objects.filter(written_at__isnull=False).count()
        if (
            written >= expected
            and not StatusChange.objects.filter(written_at__isnull=True).exists()
            and not Shipment.objects.filter(writeback_due_at__isnull=False).exists()
        ):
            return time.monotonic()
        time.sleep(0.2)
    return None


# -- one run --------------------------------------------------------------------------------------------
def run(args, odoo: OdooControl, *, outage: float) -> dict:
    env = _environment(args, odoo.url)
    portal = Portal(args, env)
    try:
        _django(env)
        from django.db import connections

        connections.close_all()
        _seed_shipments(odoo.picking_ids)
        portal.start_workers()
        time.sleep(3)  # the clusters start
        halfway = threading.Event()
        outage_timer = None
        if outage:

            def down() -> None:
                halfway.wait()
                odoo.call("outage", True)
                time.sleep(outage)
                odoo.call("outage", False)

            outage_timer = threading.Thread(target=down, daemon=True)
            outage_timer.start()
        started = time.monotonic()
        last_answered, answers = _send_all(portal.url, args.shipments, args.senders, halfway)
        expected = args.shipments * len(JOURNEY)
        applied = _wait_until_applied(expected, deadline=time.monotonic() + args.timeout)
        done = _wait_until_written(expected, deadline=time.monotonic() + args.timeout)
        if outage_timer:
            outage_timer.join()
        report = odoo.call("report")
        from sync.models import StatusChange, TrackingEvent

        changes = StatusChange.objects.count()
        notes = report["notes"]
        in_order = sum(1 for picking_id in odoo.picking_ids if notes.get(picking_id) == EXPECTED_NOTES)
        twice = sum(len(n) - len(set(n)) for n in notes.values())
        rpcs = sum(report["calls"].values())
        return {
            "webhooks": sum(answers.values()),
            "answered": dict(answers),
            "sending": last_answered - started,
            "to_last_writeback": (done - last_answered) if done else None,
            "to_last_applied": (applied - last_answered) if applied else None,
            "changes": changes,
            "events": TrackingEvent.objects.filter(state="processed").count(),
            "notes": sum(len(n) for n in notes.values()),
            "in_order": in_order,
            "twice": twice,
            "rpcs": rpcs,
            "rpcs_per_change": rpcs / changes if changes else 0,
            "calls": dict(report["calls"]),
            "logins": report["logins"],
            "fields": dict(report["status_fields"]),
        }
    finally:
        portal.stop()


def _print(title: str, figures: dict, shipments: int) -> None:
    print(f"\n{title}")
    to_last = figures["to_last_writeback"]
    rows = [
        ("webhooks answered", f"{figures['webhooks']} {figures['answered']} in {figures['sending']:.1f} s"),
        ("events applied", figures["events"]),
        ("changes of status", figures["changes"]),
        ("last webhook -> last event applied", f"{figures['to_last_applied']:.1f} s"),
        ("last webhook -> last write-back", f"{to_last:.1f} s" if to_last is not None else "not finished"),
        ("notes in Odoo", figures["notes"]),
        ("deliveries with all 4 notes in order", f"{figures['in_order']} / {shipments}"),
        ("notes posted twice", figures["twice"]),
        ("status field at Delivered", figures["fields"].get("Delivered", 0)),
        ("Odoo RPCs per change of status", f"{figures['rpcs_per_change']:.2f} ({figures['rpcs']} calls)"),
        ("Odoo calls by method", figures["calls"]),
        ("Odoo logins", figures["logins"]),
    ]
    for label, value in rows:
        print(f"  {label:38} {value}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipments", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds Odoo takes to answer each call")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds Odoo is down in the second run")
    parser.add_argument("--senders", type=int, default=16, help="webhooks in flight")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the write-backs")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/shiptrack_bench_writeback")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    print(
        f"{args.shipments} parcels x {len(JOURNEY)} webhooks; Odoo simulator at {args.latency * 1000:.0f} ms per "
        f"call; gunicorn (2 workers), 2 qcluster processes, PostgreSQL, Redis",
        flush=True,
    )
    odoo = OdooControl(args.latency, args.shipments)
    try:
        print("[1/2] Odoo up ...", flush=True)
        _print("Odoo up", run(args, odoo, outage=0), args.shipments)
        odoo.picking_ids = odoo.call("fresh")
        print(f"\n[2/2] Odoo down for {args.outage:.0f} s from the moment half the webhooks were sent ...", flush=True)
        _print(f"Odoo down for {args.outage:.0f} s", run(args, odoo, outage=args.outage), args.shipments)
    finally:
        odoo.call("stop")


if __name__ == "__main__":
    main()

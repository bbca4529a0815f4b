"""The whole path with real processes: Odoo pushes, a django-q2 worker creates the tracking, AfterShip's
webhook comes back and the worker applies it. HTTP everywhere, the test database shared with the worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from sync.models import (
    CarrierMapping,
    EventState,
    JobAttempt,
    JobKind,
    JobState,
    Shipment,
    ShipmentStatus,
    SyncJob,
    TrackingEvent,
)
from sync.pull import deliveries_intake
from sync.tasks import pull_deliveries
from tests.factories import delivery

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db, odoo, aftership):
    from django_q.models import Schedule

    Schedule.objects.all().delete()  # this test drives the work itself; no scheduled pull in between
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "ODOO_URL": odoo.url,
        "AFTERSHIP_API_BASE": aftership.url,
        "Q_WORKERS": "2",
        "Q_RECYCLE": "2",  # workers replaced as they go: a stop must not wait for one that is gone
        "SYNC_BACKOFF_BASE_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    stopped = stop(process)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
    assert stopped, "the qcluster did not stop within 10 s of SIGTERM"


def stop(process: subprocess.Popen) -> bool:
    """SIGTERM to the cluster's main process only, as systemd's `KillMode=mixed` does: it stops its workers
    itself (a signal to the whole group kills the monitor first, and the cluster then waits out its timeout
    for it). True if it stopped on its own."""
    if process.poll() is not None:
        return True
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return True


def wait_until(condition, seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_validated_delivery_is_tracked_and_its_carrier_news_comes_back(live_server, odoo, aftership, worker):
    CarrierMapping.objects.create(odoo_carrier_id=5, odoo_carrier_name="FedEx", slug="fedex")
    odoo.add_webhook_automation(f"{live_server.url}/odoo/webhook/picking?token=odoo-push-token")
    aftership.webhook_urls = [f"{live_server.url}/aftership/webhook/tracking?token=url-token"]
    aftership.webhook_secret = "whsec-current"

    calls = odoo.validate_picking(30)  # the warehouse validates WH/OUT/00025

    assert [c.status for c in calls] == [202]  # the portal answered Odoo's push inside its 1 s timeout
    wait_until(
        lambda: Shipment.objects.filter(tracking_number="770000000001").exclude(aftership_id="").exists(),
        what="the tracking to be created by the worker",
    )
    tracking = aftership.find("fedex", "770000000001")
    assert (tracking["title"], tracking["order_number"]) == ("S00034", "S00034")

    aftership.advance("fedex:770000000001", "InTransit", message="Departed FedEx hub", location="Memphis, TN")
    wait_until(
        lambda: Shipment.objects.filter(tracking_number="770000000001", status=ShipmentStatus.IN_TRANSIT).exists(),
        what="the carrier update to be applied",
    )
    event = TrackingEvent.objects.get()
    assert event.state == EventState.PROCESSED and event.signature == "valid"
    assert Shipment.objects.get().checkpoints.get().message == "Departed FedEx hub"


def notes_on(odoo, picking_id: int) -> list[str]:
    return [
        m["body"].split("</b>")[0].removeprefix("<p><b>")
        for m in odoo.messages_for("stock.picking", picking_id)
        if m["subtype_id"] == 2  # mail.mt_note
    ]


def status_field(odoo, picking_id: int) -> str | None:
    return odoo.get("stock.picking", picking_id).get("x_aftership_status")


def tracked_delivery(live_server, odoo, aftership) -> str:
    """WH/OUT/00025 validated in Odoo and tracked in AfterShip by the worker; returns the tracking id."""
    CarrierMapping.objects.create(odoo_carrier_id=5, odoo_carrier_name="FedEx", slug="fedex")
    odoo.add_webhook_automation(f"{live_server.url}/odoo/webhook/picking?token=odoo-push-token")
    aftership.webhook_urls = [f"{live_server.url}/aftership/webhook/tracking?token=url-token"]
    aftership.webhook_secret = "whsec-current"
    odoo.validate_picking(30)
    wait_until(
        lambda: Shipment.objects.filter(tracking_number="770000000001").exclude(aftership_id="").exists(),
        what="the tracking to be created by the worker",
    )
    return Shipment.objects.get(tracking_number="770000000001").aftership_id


def carrier_moves(aftership, tracking_id: str) -> None:
    """Three scans; each is in the portal before the next happens, as hours apart on a real journey."""
    for status, tag, message, place in (
        (ShipmentStatus.IN_TRANSIT, "InTransit", "Departed FedEx hub", "Memphis, TN"),
        (ShipmentStatus.OUT_FOR_DELIVERY, "OutForDelivery", "On FedEx vehicle for delivery", "Lyon, FR"),
        (ShipmentStatus.DONE, "Delivered", "Delivered", "Lyon, FR"),
    ):
        aftership.advance(tracking_id, tag, message=message, location=place)
        wait_until(lambda s=status: Shipment.objects.filter(status=s).exists(), what=f"{tag} to be applied")


def test_the_carrier_news_reaches_the_odoo_delivery_in_order(live_server, odoo, aftership, worker):
    tracking_id = tracked_delivery(live_server, odoo, aftership)

    carrier_moves(aftership, tracking_id)

    wait_until(lambda: status_field(odoo, 30) == "Delivered", what="the delivery's status field at Delivered")
    assert notes_on(odoo, 30) == ["In transit", "Out for delivery", "Delivered"]


def test_news_that_comes_while_odoo_is_down_reaches_it_in_order_once_it_is_back(live_server, odoo, aftership, worker):
    tracking_id = tracked_delivery(live_server, odoo, aftership)
    odoo.faults.outage = True

    carrier_moves(aftership, tracking_id)
    wait_until(
        lambda: SyncJob.objects.filter(kind=JobKind.WRITEBACK, attempts__gte=1).exists(),
        what="a write-back to fail on the outage",
    )
    assert notes_on(odoo, 30) == []
    odoo.faults.outage = False
    pull_deliveries()  # the scheduled pull finds Odoo answering again and releases the waiting write-backs

    wait_until(lambda: status_field(odoo, 30) == "Delivered", what="the write-back once Odoo is back")
    assert notes_on(odoo, 30) == ["In transit", "Out for delivery", "Delivered"]
    assert SyncJob.objects.filter(kind=JobKind.WRITEBACK).count() == 1  # one job carried the whole backlog


def test_a_stopping_worker_ends_its_drain_at_the_next_job_and_leaves_the_rest_queued(odoo, aftership, worker):
    deliveries_intake([delivery(1000 + i, f"{4815160000 + i}") for i in range(200)])  # 10 s at 20 calls/s
    wait_until(
        lambda: SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, state=JobState.DONE).count() >= 5,
        what="the drain to be under way",
    )

    assert stop(worker)

    jobs = SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING)
    assert jobs.filter(state=JobState.PENDING).exists()  # the drain did not run out its budget first
    assert not jobs.filter(state=JobState.RUNNING).exists()  # nothing is left claimed by a stopped worker
    assert not JobAttempt.objects.exclude(outcome__in=["done", "wait"]).exists()
    assert jobs.filter(state=JobState.DONE).count() == len(aftership.trackings)  # every call sent was kept

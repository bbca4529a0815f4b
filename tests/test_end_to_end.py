"""The whole path with real processes: Odoo pushes, a django-q2 worker creates the tracking, AfterShip's
webhook comes back and the worker applies it. HTTP everywhere, the test database shared with the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from sync.models import CarrierMapping, EventState, Shipment, ShipmentStatus, TrackingEvent

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
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


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

"""Retention: `manage.py purge` and its daily task delete what is past RETENTION_DAYS, and nothing else."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from sync.models import (
    ApiUsage,
    Checkpoint,
    EventState,
    JobAttempt,
    JobKind,
    JobState,
    ShipmentStatus,
    SyncJob,
    TrackingEvent,
)
from sync.tasks import purge_old_records
from tests.factories import dhl_shipment
from webhooks.models import SecurityEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(settings):
    """Records of 200 days ago and of yesterday, with RETENTION_DAYS at 180."""
    settings.RETENTION_DAYS = 180
    settings.SECURITY_LOG_RETENTION_DAYS = 90
    now = timezone.now()
    old, recent = now - timedelta(days=200), now - timedelta(days=1)
    delivered = dhl_shipment(status=ShipmentStatus.DONE)
    travelling = dhl_shipment(picking_id=21, tracking_number="4815162343", status=ShipmentStatus.IN_TRANSIT)
    for shipment in (delivered, travelling):
        Checkpoint.objects.create(shipment=shipment, dedupe_key=f"scan-{shipment.pk}", message="Arrived")
    type(delivered).objects.update(updated_at=old)
    for state, when in ((EventState.PROCESSED, old), (EventState.RECEIVED, old), (EventState.PROCESSED, recent)):
        event = TrackingEvent.objects.create(body=b"{}", state=state)
        TrackingEvent.objects.filter(pk=event.pk).update(received_at=when)
    done = SyncJob.objects.create(
        kind=JobKind.CREATE_TRACKING, shipment=delivered, state=JobState.DONE, finished_at=old
    )
    JobAttempt.objects.create(job=done, started_at=old, outcome="created")
    waiting = SyncJob.objects.create(kind=JobKind.WRITEBACK, shipment=travelling, state=JobState.PENDING)
    JobAttempt.objects.create(job=waiting, started_at=old, outcome="Odoo unreachable")
    for hour in (old, recent):
        ApiUsage.objects.create(service="aftership", endpoint="create_tracking", hour=hour, calls=3)
    SecurityEvent.objects.create(
        minute=now - timedelta(days=100),
        address="203.0.113.9",
        path="/x",
        reason="invalid_signature",
        first_at=now - timedelta(days=100),
        last_at=now - timedelta(days=100),
    )
    return {"delivered": delivered, "travelling": travelling, "done": done, "waiting": waiting}


def test_a_dry_run_counts_and_deletes_nothing(history):
    out = StringIO()
    call_command("purge", "--dry-run", stdout=out)

    text = out.getvalue()
    assert "(would be deleted)" in text
    assert "webhook events" in text and "7 rows would be deleted." in text
    assert TrackingEvent.objects.count() == 3 and Checkpoint.objects.count() == 2


def test_the_purge_deletes_what_is_past_retention_and_keeps_the_rest(history):
    out = StringIO()
    call_command("purge", stdout=out)

    # Old and applied events go; an old event still waiting to be applied and yesterday's stay.
    assert sorted(TrackingEvent.objects.values_list("state", flat=True)) == ["processed", "received"]
    assert list(SyncJob.objects.all()) == [history["waiting"]]  # an open job is never purged
    assert JobAttempt.objects.count() == 0  # an old attempt goes even when its job stays
    assert ApiUsage.objects.count() == 1
    assert list(Checkpoint.objects.values_list("shipment", flat=True)) == [history["travelling"].pk]
    assert SecurityEvent.objects.count() == 0  # past its own 90 days
    assert "7 rows deleted." in out.getvalue()

    again = purge_old_records()  # the daily task: nothing left to do
    assert sum(count for key, count in again.items() if key != "before") == 0

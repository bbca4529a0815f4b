"""Reconciliation against the AfterShip simulator: news that never came as a webhook is applied all the same."""

from __future__ import annotations

import pytest

from sync.inbound import events_process
from sync.models import EventSource, ShipmentStatus, SyncCursor, TrackingEvent
from sync.reconcile import RECONCILE_CURSOR, trackings_reconcile
from tests.factories import dhl_shipment

pytestmark = pytest.mark.django_db


@pytest.fixture
def silent_aftership(aftership):
    aftership.webhook_urls = []  # the webhooks are lost on the way (a proxy down, a URL mistyped)
    return aftership


def test_news_without_a_webhook_is_found_and_applied_by_the_same_path(silent_aftership, aftership_client_factory):
    tracking = silent_aftership.create_tracking({"tracking_number": "4815162342", "slug": "dhl"})
    shipment = dhl_shipment(aftership_id=tracking["id"])
    silent_aftership.advance(tracking["id"], "InTransit", message="Departed facility", location="Leipzig, DE")

    stats = trackings_reconcile(client=aftership_client_factory())
    events_process()

    assert (stats.recorded, stats.pages) == (1, 1)
    event = TrackingEvent.objects.get()
    assert (event.source, event.state) == (EventSource.RECONCILE, "processed")
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert list(shipment.status_changes.values_list("status_text", flat=True)) == ["In transit"]
    assert SyncCursor.objects.get(name=RECONCILE_CURSOR).write_date == shipment.news_at

    again = trackings_reconcile(client=aftership_client_factory())
    assert (again.recorded, again.up_to_date) == (0, 1)  # nothing newer than what the shipment has


def test_it_pages_through_every_change_and_skips_trackings_that_are_not_the_portals(
    silent_aftership, aftership_client_factory
):
    ours = []
    for i in range(205):
        tracking = silent_aftership.create_tracking({"tracking_number": f"48151{i:05d}", "slug": "dhl"})
        if i % 2 == 0:
            ours.append(dhl_shipment(tracking_number=tracking["tracking_number"], aftership_id=tracking["id"]))

    stats = trackings_reconcile(client=aftership_client_factory())

    assert (stats.pages, stats.trackings) == (2, 205)
    assert (stats.recorded, stats.not_ours) == (len(ours), 205 - len(ours))
    assert len(silent_aftership.requests_to("/tracking/2026-07/trackings", "GET")) == 2


def test_a_sweep_out_of_time_resumes_at_its_page_and_moves_the_cursor_only_at_the_end(
    silent_aftership, aftership_client_factory
):
    for i in range(450):
        tracking = silent_aftership.create_tracking({"tracking_number": f"48152{i:05d}", "slug": "dhl"})
        dhl_shipment(tracking_number=tracking["tracking_number"], aftership_id=tracking["id"])

    first = trackings_reconcile(client=aftership_client_factory(), budget_seconds=0)
    assert (first.complete, first.pages, first.recorded) == (False, 1, 200)
    assert SyncCursor.objects.get(name=RECONCILE_CURSOR).write_date is None

    second = trackings_reconcile(client=aftership_client_factory(), budget_seconds=60)
    assert (second.complete, second.pages, second.recorded) == (True, 2, 250)
    assert SyncCursor.objects.get(name=RECONCILE_CURSOR).write_date is not None
    assert TrackingEvent.objects.count() == 450  # every tracking once, none read twice

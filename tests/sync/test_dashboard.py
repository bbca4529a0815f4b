"""The admin's front page: a health line and figures that add up, at a constant cost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sync.dashboard import chart_svg, dashboard_summary
from sync.health import service_pause
from sync.models import (
    ApiUsage,
    EventState,
    JobKind,
    ShipmentStatus,
    SyncCursor,
    SyncJob,
    TrackingEvent,
)
from sync.pull import INCREMENTAL_CURSOR
from tests.factories import dhl_shipment
from webhooks.models import SecurityEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def warehouse(db):
    """Seven parcels, one of each kind the front page counts, and a pull a minute ago."""
    now = timezone.now()
    SyncCursor.objects.create(name=INCREMENTAL_CURSOR, last_run_at=now - timedelta(minutes=1))
    dhl_shipment(picking_id=1, tracking_number="T1", aftership_id="a1", status=ShipmentStatus.IN_TRANSIT)
    dhl_shipment(picking_id=2, tracking_number="T2", aftership_id="a2", status=ShipmentStatus.DONE)
    dhl_shipment(picking_id=3, tracking_number="T3", aftership_id="a3", status=ShipmentStatus.EXCEPTION)
    queued = dhl_shipment(picking_id=4, tracking_number="T4", aftership_id="", status=ShipmentStatus.NEW)
    retrying = dhl_shipment(picking_id=5, tracking_number="T5", aftership_id="", status=ShipmentStatus.NEW)
    dhl_shipment(picking_id=6, tracking_number="T6", aftership_id="", needs_review=True, review_reason="Unknown")
    dhl_shipment(picking_id=7, tracking_number="T7", aftership_id="", status=ShipmentStatus.IGNORED)
    SyncJob.objects.create(kind=JobKind.CREATE_TRACKING, shipment=queued)
    SyncJob.objects.create(kind=JobKind.CREATE_TRACKING, shipment=retrying, attempts=2)
    for state, ago in ((EventState.PROCESSED, 5), (EventState.FAILED, 10), (EventState.UNMATCHED, 120)):
        event = TrackingEvent.objects.create(body=b"{}", state=state)
        TrackingEvent.objects.filter(pk=event.pk).update(received_at=now - timedelta(minutes=ago))
    SecurityEvent.objects.create(
        minute=now - timedelta(minutes=3),
        address="203.0.113.9",
        path="/x",
        reason="invalid_signature",
        count=40,
        first_at=now,
        last_at=now,
    )
    ApiUsage.objects.create(
        service="aftership",
        endpoint="create_tracking",
        hour=now.replace(minute=0, second=0, microsecond=0),
        calls=12,
        errors=2,
    )
    return now


def test_the_figures_add_up(warehouse):
    summary = dashboard_summary(fresh=True)

    parcels = summary["parcels"]
    assert (parcels["total"], parcels["tracked"], parcels["ignored"]) == (7, 3, 1)
    assert (parcels["queued"], parcels["review_untracked"], parcels["missing"]) == (2, 1, 3)
    assert parcels["tracked"] + parcels["missing"] + parcels["ignored"] == parcels["total"]
    assert (summary["jobs"]["queued"], summary["jobs"]["retrying"]) == (1, 1)
    webhooks = summary["webhooks"]
    assert (webhooks["accepted_hour"], webhooks["unreadable_hour"], webhooks["unmatched_hour"]) == (2, 1, 0)
    assert (webhooks["accepted_day"], webhooks["unmatched_day"], webhooks["refused_hour"]) == (3, 1, 40)
    assert (summary["calls"]["hour"], summary["calls"]["today"]) == (12, 12)
    assert summary["chart"]["calls"][-1] == 12 and summary["chart"]["failures"][-1] == 2
    assert sum(summary["chart"]["webhooks"]) == 3


def test_the_health_line_says_what_needs_whom(warehouse):
    health = dashboard_summary(fresh=True)["health"]
    assert health["level"] == "attention"
    assert health["reasons"][0] == (
        "1 parcel to review",
        reverse("admin:sync_shipment_changelist") + "?attention=review",
    )

    service_pause("aftership", "The API Key is invalid.")
    health = dashboard_summary(fresh=True)["health"]
    assert health["level"] == "broken"
    assert health["reasons"][0][0] == "AfterShip refuses the portal's credentials: its calls are paused"


def test_a_stale_pull_is_broken_and_a_quiet_portal_is_healthy(db):
    assert dashboard_summary(fresh=True)["health"]["level"] == "broken"  # never pulled: no workers?
    SyncCursor.objects.create(name=INCREMENTAL_CURSOR, last_run_at=timezone.now())
    assert dashboard_summary(fresh=True)["health"] == {"level": "healthy", "label": "Healthy", "reasons": []}


def test_the_front_page_costs_a_fixed_number_of_queries_and_then_none(
    warehouse, django_assert_num_queries, django_assert_max_num_queries
):
    from sync.dashboard import _compute

    with django_assert_num_queries(10):  # aggregates, whatever the number of rows
        _compute()
    dashboard_summary(fresh=True)
    with django_assert_max_num_queries(1):  # then the cache alone (a table of the database without Redis)
        dashboard_summary()


def test_the_front_page_shows_the_health_line_and_the_week(admin_client, warehouse):
    content = admin_client.get(reverse("admin:index")).content.decode()
    assert 'class="sync-health-attention"' in content and "Needs attention" in content
    assert "3 not in AfterShip" in content and "2 waiting to be sent" in content
    assert "<svg" in content and "Per hour, last 7 days" in content
    assert "pull from Odoo 1\xa0minute ago" in content


def test_the_chart_draws_each_series(warehouse):
    svg = chart_svg(dashboard_summary(fresh=True)["chart"])
    assert svg.count("<polyline") == 2 and "<rect" in svg  # webhooks and calls as lines, failures as bars
    assert "AfterShip calls" in svg

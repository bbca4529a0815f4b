"""Each role at 1366x768 in a real browser: what they see, and the fixes they can finish themselves."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from sync.jobs import jobs_drain
from sync.models import EventState, Shipment, SyncCursor, TrackingEvent
from sync.permissions import INTEGRATION_ADMINS, LOGISTICS_MANAGERS, groups_ensure
from sync.pull import INCREMENTAL_CURSOR, deliveries_intake
from tests.factories import delivery, dhl_shipment, journey_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def staff(username: str, group: str) -> User:
    groups_ensure()  # a transactional test starts without the roles the migrations made
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def no_sideways_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    overflowing = page.evaluate(
        "[...document.querySelectorAll('#result_list')].filter(t => t.scrollWidth > t.parentElement.clientWidth + 1)"
        ".length"
    )
    assert overflowing == 0, "a list is wider than its panel"


def test_a_logistics_manager_maps_a_carrier_and_sees_its_parcels_leave_review(
    page_as, aftership, aftership_client_factory, odoo, live_server
):
    deliveries_intake([delivery(41, "LYON-000042", carrier_id=9)])
    jobs_drain(aftership_factory=aftership_client_factory, odoo_factory=lambda: None, budget_seconds=10)
    assert Shipment.objects.get(tracking_number="LYON-000042").needs_review
    SyncCursor.objects.create(name=INCREMENTAL_CURSOR, last_run_at=timezone.now())  # the workers pull
    staff("lena", LOGISTICS_MANAGERS)
    page = page_as("lena")

    assert "Needs attention" in page.inner_text("#sync-health")
    assert "Test connections" not in page.content()
    page.click("#sync-health >> text=1 parcel to review")
    no_sideways_scrolling(page)
    assert "Needs review" in page.inner_text("#result_list")

    page.goto(f"{live_server.url}/admin/sync/carriermapping/?mapped=no")
    no_sideways_scrolling(page)
    page.click("#result_list >> text=Coursier Express Lyon")
    page.fill("#id_slug", "dhl-expres")
    page.click("input[name=_save]")
    assert "AfterShip has no courier 'dhl-expres'. Closest: dhl" in page.inner_text(".errorlist")
    page.fill("#id_slug", "colissimo")
    page.click("input[name=_save]")

    assert "1 parcel of Coursier Express Lyon that was waiting for review is queued again." in page.inner_text(
        ".messagelist"
    )
    assert not Shipment.objects.get(tracking_number="LYON-000042").needs_review


def test_an_integration_admin_runs_a_resync_and_reprocesses_an_event(page_as, odoo, aftership, live_server):
    shipment = dhl_shipment()
    event = TrackingEvent.objects.create(
        body=journey_body("01_in_transit"),
        state=EventState.FAILED,
        error="OperationalError: disk full",
        tracking_number="4815162342",
    )
    staff("ops", INTEGRATION_ADMINS)
    page = page_as("ops")

    page.goto(f"{live_server.url}/admin/sync/resync/add/")
    page.fill("#id_orders", "S00025, S00999")
    page.click("input[name=_save]")
    assert "Resync asked" in page.inner_text(".messagelist")
    assert "Waiting for a worker" in page.inner_text("#content")

    page.goto(f"{live_server.url}/admin/sync/trackingevent/{event.pk}/change/")
    page.click("button:has-text('Reprocess')")
    assert "1 event queued to be applied again." in page.inner_text(".messagelist")
    assert f"/admin/sync/trackingevent/{event.pk}/change/" in page.url  # back on the event's page
    event.refresh_from_db()
    assert event.state == EventState.RECEIVED and shipment.pk
    page.goto(f"{live_server.url}/admin/sync/trackingevent/")
    no_sideways_scrolling(page)

"""The admin as logistics managers and integration admins use it: lists, recovery actions, permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from sync.jobs import jobs_drain
from sync.models import CarrierMapping, JobState, ServiceState, Shipment, SyncJob, TrackingEvent
from sync.permissions import INTEGRATION_ADMINS, LOGISTICS_MANAGERS
from sync.pull import deliveries_intake
from tests.factories import delivery

pytestmark = pytest.mark.django_db


def staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def failed_parcel(aftership, aftership_client_factory, carrier_mappings):
    deliveries_intake([delivery(31, "N/A", carrier_id=4), delivery(32, "4815162343", carrier_id=4)])
    jobs_drain(aftership_factory=aftership_client_factory, odoo_factory=lambda: None, budget_seconds=10)
    return Shipment.objects.get(tracking_number="N/A")


@pytest.mark.parametrize(
    "model", ["shipment", "syncjob", "carriermapping", "trackingevent", "synccursor", "servicestate", "apiusage"]
)
def test_every_list_renders_for_an_admin(admin_client, failed_parcel, model):
    TrackingEvent.objects.create(body=b'{"event_id": "e1"}', event_id="e1", tracking_number="4815162343")
    response = admin_client.get(reverse(f"admin:sync_{model}_changelist"))
    assert response.status_code == 200


def test_the_review_filter_lists_parcels_needing_a_look_with_their_reason(admin_client, failed_parcel):
    response = admin_client.get(reverse("admin:sync_shipment_changelist") + "?attention=review")
    content = response.content.decode()
    assert "WH/OUT/00031" in content and "WH/OUT/00032" not in content
    assert "AfterShip rejected tracking number N/A" in content


def test_an_integration_admin_retries_a_failed_parcel(client, failed_parcel):
    client.force_login(staff("ops", INTEGRATION_ADMINS))
    response = client.post(
        reverse("admin:sync_shipment_changelist"),
        {"action": "retry_tracking", "_selected_action": [failed_parcel.pk]},
        follow=True,
    )
    assert "1 parcel queued again." in response.content.decode()
    job = SyncJob.objects.get(shipment=failed_parcel)
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    failed_parcel.refresh_from_db()
    assert not failed_parcel.needs_review


def test_a_logistics_manager_maps_carriers_but_cannot_retry(client, failed_parcel):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    mapping = CarrierMapping.objects.get(odoo_carrier_id=4)
    url = reverse("admin:sync_carriermapping_change", args=[mapping.pk])
    form = {
        "slug": "dhl",
        "enabled": "on",
        "custom_fields": "{}",
        "send_customer_email": "unknown",
        "send_customer_phone": "unknown",
    }
    assert client.post(url, form).status_code == 302

    changelist = client.get(reverse("admin:sync_shipment_changelist")).content.decode()
    assert "retry_tracking" not in changelist  # the action is not offered
    response = client.post(
        reverse("admin:sync_shipment_changelist"), {"action": "retry_tracking", "_selected_action": [failed_parcel.pk]}
    )
    assert SyncJob.objects.get(shipment=failed_parcel).state == JobState.FAILED
    assert response.status_code in (200, 302)
    assert client.get(reverse("admin:sync_test_connections")).status_code == 403


def test_the_connection_tester_checks_both_services_and_lifts_a_pause(admin_client, odoo, aftership):
    ServiceState.objects.create(service="aftership", credentials_ok=False, paused_reason="The API Key is invalid.")

    response = admin_client.get(reverse("admin:sync_test_connections"))

    content = response.content.decode()
    assert "Odoo 18.0-20250702 at" in content
    assert "accepted; trackings resumed" in content
    assert "Odoo right to read validated deliveries" in content
    assert ServiceState.objects.get(service="aftership").credentials_ok


def test_the_connection_tester_says_what_is_wrong(admin_client, odoo, aftership, settings):
    settings.AFTERSHIP_API_KEY = "revoked"
    settings.ODOO_URL = "http://127.0.0.1:9"
    content = admin_client.get(reverse("admin:sync_test_connections")).content.decode()
    assert "The API Key is invalid." in content and "Set AFTERSHIP_API_KEY to a key of the account." in content
    assert "Cannot reach Odoo at http://127.0.0.1:9" in content
    assert "checks failed: see what to do below." in content


def test_the_front_page_shows_what_needs_a_look(admin_client, failed_parcel):
    content = admin_client.get(reverse("admin:index")).content.decode()
    assert "Sync status" in content
    assert "2 from Odoo, 1 tracked in AfterShip" in content
    assert "1 parcel to review" in content


def test_the_front_page_warns_when_outbound_work_is_paused(admin_client, db):
    from sync.health import service_pause

    service_pause("aftership", "The API Key is invalid.")
    content = admin_client.get(reverse("admin:index")).content.decode()
    assert "AfterShip refused the portal's credentials" in content
    assert "The API Key is invalid." in content


def test_an_integration_admin_reprocesses_a_failed_event_and_a_manager_cannot(client, odoo):
    from sync.inbound import events_process
    from sync.models import EventState
    from tests.factories import dhl_shipment, webhook

    shipment = dhl_shipment()
    webhook(client, "01_in_transit")
    event = TrackingEvent.objects.get()
    TrackingEvent.objects.filter(pk=event.pk).update(state=EventState.FAILED, error="OperationalError: disk full")
    url = reverse("admin:sync_trackingevent_changelist")

    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    assert "reprocess" not in client.get(url).content.decode()

    client.force_login(staff("ops", INTEGRATION_ADMINS))
    response = client.post(url, {"action": "reprocess", "_selected_action": [event.pk]}, follow=True)
    assert "1 event queued to be applied again." in response.content.decode()
    events_process()
    event.refresh_from_db()
    assert (event.state, event.error, event.shipment) == (EventState.PROCESSED, "", shipment)


def test_a_shipment_page_shows_what_was_told_to_odoo(admin_client, odoo):
    from sync.inbound import events_process
    from sync.jobs import jobs_drain as drain
    from sync.models import JobKind
    from tests.factories import dhl_shipment, webhook

    shipment = dhl_shipment()
    webhook(admin_client, "01_in_transit")
    events_process()
    drain(kinds=[JobKind.WRITEBACK], once=True)

    page = admin_client.get(reverse("admin:sync_shipment_change", args=[shipment.pk])).content.decode()
    assert "Status changes told to Odoo" in page and "In transit" in page
    front = admin_client.get(reverse("admin:index")).content.decode()
    assert "0 deliveries waiting to be written" in front

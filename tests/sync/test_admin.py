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


def test_a_logistics_manager_retries_parcels_but_not_jobs_events_or_the_tester(client, failed_parcel):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))

    response = client.post(
        reverse("admin:sync_shipment_changelist"),
        {"action": "retry_tracking", "_selected_action": [failed_parcel.pk]},
        follow=True,
    )
    assert "1 parcel queued again." in response.content.decode()
    assert SyncJob.objects.get(shipment=failed_parcel).state == JobState.PENDING

    assert "retry_jobs" not in client.get(reverse("admin:sync_syncjob_changelist")).content.decode()
    assert "reprocess" not in client.get(reverse("admin:sync_trackingevent_changelist")).content.decode()
    assert client.get(reverse("admin:sync_test_connections")).status_code == 403
    # ... and no page shows them a link that would end in that 403.
    assert reverse("admin:sync_test_connections") not in client.get(reverse("admin:index")).content.decode()
    connections = client.get(reverse("admin:sync_servicestate_changelist")).content.decode()
    assert reverse("admin:sync_test_connections") not in connections


@pytest.fixture
def parcel_in_review(aftership, aftership_client_factory, db):
    """A delivery of a carrier the portal has never seen, with a number AfterShip cannot place."""
    deliveries_intake([delivery(41, "LYON-000042", carrier_id=9)])
    jobs_drain(aftership_factory=aftership_client_factory, odoo_factory=lambda: None, budget_seconds=10)
    shipment = Shipment.objects.get(tracking_number="LYON-000042")
    assert shipment.needs_review
    return shipment


def mapping_form(**overrides) -> dict:
    return {
        "enabled": "on",
        "custom_fields": "{}",
        "send_customer_email": "unknown",
        "send_customer_phone": "unknown",
        **overrides,
    }


def test_a_slug_aftership_does_not_know_is_refused_with_the_closest_ones(client, parcel_in_review):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    mapping = CarrierMapping.objects.get(odoo_carrier_id=9)
    url = reverse("admin:sync_carriermapping_change", args=[mapping.pk])

    content = client.post(url, mapping_form(slug="Not a slug!")).content.decode()
    assert "AfterShip has no courier &#x27;not a slug!&#x27;." in content
    content = client.post(url, mapping_form(slug="dhl-expres")).content.decode()
    assert "Closest: dhl, " in content  # DHL Express first
    mapping.refresh_from_db()
    assert mapping.slug == ""


def test_mapping_the_carrier_sends_its_parcels_in_review_again(client, parcel_in_review, aftership):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    mapping = CarrierMapping.objects.get(odoo_carrier_id=9)
    url = reverse("admin:sync_carriermapping_change", args=[mapping.pk])

    response = client.post(url, mapping_form(slug="colissimo"), follow=True)

    assert "1 parcel of Coursier Express Lyon that was waiting for review is queued again." in (
        response.content.decode()
    )
    job = SyncJob.objects.get(shipment=parcel_in_review)
    assert (job.state, job.attempts) == (JobState.PENDING, 0)
    parcel_in_review.refresh_from_db()
    assert not parcel_in_review.needs_review


def test_the_courier_aftership_suggested_is_taken_in_one_click(client, carrier_mappings):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    suggested = CarrierMapping.objects.create(odoo_carrier_id=9, odoo_carrier_name="Lyon", suggested_slug="ups")
    mapped = CarrierMapping.objects.get(odoo_carrier_id=4)

    response = client.post(
        reverse("admin:sync_carriermapping_changelist"),
        {"action": "use_suggested", "_selected_action": [suggested.pk, mapped.pk]},
        follow=True,
    )

    assert "1 carrier mapped; 0 parcels queued again; 1 left alone" in response.content.decode()
    suggested.refresh_from_db()
    assert suggested.slug == "ups"


def test_a_parcel_marked_reviewed_leaves_the_review_list(client, parcel_in_review):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))

    response = client.post(
        reverse("admin:sync_shipment_changelist"),
        {"action": "mark_reviewed", "_selected_action": [parcel_in_review.pk]},
        follow=True,
    )

    assert "1 parcel marked reviewed." in response.content.decode()
    parcel_in_review.refresh_from_db()
    assert not parcel_in_review.needs_review
    review = client.get(reverse("admin:sync_shipment_changelist") + "?attention=review").content.decode()
    assert "WH/OUT/00041" not in review


def test_a_parcel_in_review_says_so_in_its_status(admin_client, parcel_in_review):
    content = admin_client.get(reverse("admin:sync_shipment_changelist")).content.decode()
    row = content[content.index("WH/OUT/00041") :]
    row = row[: row.index("</tr>")]
    assert "Needs review: unknown courier" in row
    assert "Waiting to be sent to AfterShip" not in row


def test_the_connection_tester_checks_both_services_and_lifts_a_pause(admin_client, odoo, aftership):
    ServiceState.objects.create(service="aftership", credentials_ok=False, paused_reason="The API Key is invalid.")

    visit = admin_client.get(reverse("admin:sync_test_connections")).content.decode()
    assert "Run the checks" in visit and not ServiceState.objects.get(service="aftership").credentials_ok
    assert "From real traffic" in visit and "refused since" in visit  # the pause, as the workers met it

    response = admin_client.post(reverse("admin:sync_test_connections"))

    content = response.content.decode()
    assert "Odoo 18.0-20250702 at" in content
    assert "accepted; trackings resumed" in content
    assert "Odoo right to read validated deliveries" in content
    assert ServiceState.objects.get(service="aftership").credentials_ok


def test_the_connection_tester_says_what_is_wrong(admin_client, odoo, aftership, settings):
    settings.AFTERSHIP_API_KEY = "revoked"
    settings.ODOO_URL = "http://127.0.0.1:9"
    content = admin_client.post(reverse("admin:sync_test_connections")).content.decode()
    assert "The API Key is invalid." in content and "Set AFTERSHIP_API_KEY to a key of the account." in content
    assert "Cannot reach Odoo at http://127.0.0.1:9" in content
    assert "checks failed: see what to do below." in content


def test_the_front_page_shows_what_needs_a_look(admin_client, failed_parcel):
    content = admin_client.get(reverse("admin:index")).content.decode()
    assert "Sync status" in content
    assert "2 from Odoo</a>:\n      1 tracked in AfterShip" in content
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


def test_when_afterships_list_cannot_be_had_the_slug_is_saved_with_a_warning(client, parcel_in_review, settings):
    settings.AFTERSHIP_API_BASE = "http://127.0.0.1:9"  # AfterShip out of reach
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    mapping = CarrierMapping.objects.get(odoo_carrier_id=9)

    response = client.post(
        reverse("admin:sync_carriermapping_change", args=[mapping.pk]), mapping_form(slug="lyon-express"), follow=True
    )

    assert "could not be fetched just now, so &#x27;lyon-express&#x27; was saved unchecked" in response.content.decode()
    mapping.refresh_from_db()
    assert mapping.slug == "lyon-express"


def test_a_parcels_page_is_read_only_and_carries_the_actions_its_reader_may_take(client, parcel_in_review):
    url = reverse("admin:sync_shipment_change", args=[parcel_in_review.pk])
    client.force_login(staff("lena", LOGISTICS_MANAGERS))

    page = client.get(url).content.decode()

    assert "View shipment" in page and 'name="_save"' not in page
    for label in ("Retry", "Resync from Odoo", "Mark reviewed"):
        assert f">{label}</button>" in page
    response = client.post(
        reverse("admin:sync_shipment_changelist"),
        {"action": "mark_reviewed", "_selected_action": [parcel_in_review.pk], "index": 0, "_back": url},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url  # back on the parcel's page
    assert "1 parcel marked reviewed." in response.content.decode()

    job = SyncJob.objects.get(shipment=parcel_in_review)
    job_page = client.get(reverse("admin:sync_syncjob_change", args=[job.pk])).content.decode()
    assert ">Retry</button>" not in job_page  # retrying jobs is for integration admins
    client.force_login(staff("ops", INTEGRATION_ADMINS))
    assert ">Retry</button>" in client.get(reverse("admin:sync_syncjob_change", args=[job.pk])).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_webhook_tester_sends_a_signed_sample_through_the_real_endpoint(client, live_server, settings):
    from sync.permissions import groups_ensure

    groups_ensure()  # a transactional test starts without the roles the migrations made
    settings.PORTAL_BASE_URL = live_server.url
    client.force_login(staff("ops", INTEGRATION_ADMINS))
    url = reverse("admin:sync_test_webhook")
    assert "Send a sample update" in client.get(url).content.decode()
    assert not TrackingEvent.objects.exists()  # a visit sends nothing

    page = client.post(url).content.decode()

    event = TrackingEvent.objects.get()
    assert "Accepted in" in page and f"event #{event.pk}" in page
    assert event.signature == "valid" and event.tracking_number.startswith("SHIPTRACK-TEST-")
    assert "url-token" not in page  # the URL's token is a secret

    settings.PORTAL_BASE_URL = "http://127.0.0.1:9"  # a wrong public address: the tester says so
    page = client.post(url).content.decode()
    assert "The portal could not be reached at http://127.0.0.1:9/aftership/webhook/tracking" in page
    assert "Check <code>PORTAL_BASE_URL</code>" in page


def test_the_webhook_tester_is_for_integration_admins(client, db):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    assert client.get(reverse("admin:sync_test_webhook")).status_code == 403
    assert "Test the webhook" not in client.get(reverse("admin:sync_trackingevent_changelist")).content.decode()


def test_a_bulk_action_says_what_will_happen_and_asks_first(client, parcel_in_review):
    other = Shipment.objects.exclude(pk=parcel_in_review.pk).first() or parcel_in_review
    tracked = Shipment.objects.create(
        picking_id=99, picking_name="WH/OUT/00099", tracking_number="T99", aftership_id="a99", carrier=other.carrier
    )
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    url = reverse("admin:sync_shipment_changelist")
    selected = {"action": "mark_reviewed", "_selected_action": [parcel_in_review.pk, tracked.pk], "index": 0}

    page = client.post(url, selected).content.decode()

    assert "Mark these parcels reviewed?" in page
    assert "1 parcel leaves the review list" in page and "1 other is left alone." in page
    parcel_in_review.refresh_from_db()
    assert parcel_in_review.needs_review  # nothing done before the answer

    response = client.post(url, {**selected, "confirmed": "yes"}, follow=True)

    assert "1 parcel marked reviewed." in response.content.decode()
    parcel_in_review.refresh_from_db()
    assert not parcel_in_review.needs_review

    # "Select all" on a filtered list: the question and its answer keep the filter, so all means all shown.
    page = client.post(url + "?q=WH%2FOUT", {**selected, "select_across": "1"}).content.decode()
    assert 'action="/admin/sync/shipment/?q=WH%2FOUT"' in page
    assert 'name="select_across" value="1"' in page


def test_a_slug_saved_unchecked_is_checked_later_and_the_managers_told(aftership, carrier_mappings):
    from sync.carriers import carrier_slugs_verify
    from sync.models import Alert

    CarrierMapping.objects.filter(odoo_carrier_id=4).update(slug="lyon-express")  # saved while AfterShip was away

    unknown = carrier_slugs_verify()

    assert [m.slug for m in unknown] == ["lyon-express"]
    alert = Alert.objects.get(topic="Carrier mappings to fix")
    assert alert.audience == "logistics" and "'lyon-express', which AfterShip does not know" in alert.latest_subject


def test_filters_read_small_tables_and_an_exception_shows_afterships_reason(admin_client, carrier_mappings):
    from tests.factories import dhl_shipment

    dhl_shipment(status="exception", tag="Exception", subtag_message="Address not found")
    TrackingEvent.objects.create(body=b"{}", tag="InTransit", tracking_number="4815162342")

    shipments = admin_client.get(reverse("admin:sync_shipment_changelist") + "?courier=dhl").content.decode()
    assert "Exception: Address not found" in shipments
    assert "?courier=fedex" in shipments  # the courier choices come from the carrier mappings
    events = admin_client.get(reverse("admin:sync_trackingevent_changelist") + "?tag=InTransit").content.decode()
    assert "4815162342" in events and "?tag=OutForDelivery" in events

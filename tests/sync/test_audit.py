"""The audit log: every mapping change and manual action, from the admin or a command, says who, when, what,
before and after; the log itself is read-only and filterable."""

from __future__ import annotations

import contextlib
import getpass
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from sync.models import (
    AuditAction,
    AuditEntry,
    CarrierMapping,
    EventState,
    JobKind,
    JobState,
    ServiceState,
    Shipment,
    ShipmentStatus,
    SyncJob,
    TrackingEvent,
)
from sync.permissions import INTEGRATION_ADMINS, LOGISTICS_MANAGERS
from tests.factories import dhl_shipment
from webhooks.models import AddressBlock

pytestmark = pytest.mark.django_db


def staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def mapping_form(**overrides) -> dict:
    return {
        "slug": "dhl",
        "enabled": "on",
        "custom_fields": "{}",
        "send_customer_email": "unknown",
        "send_customer_phone": "unknown",
        **overrides,
    }


@pytest.fixture
def failed_job(db):
    shipment = dhl_shipment(aftership_id="", needs_review=True, review_reason="Unknown courier")
    return SyncJob.objects.create(
        kind=JobKind.CREATE_TRACKING, shipment=shipment, state=JobState.FAILED, attempts=3, last_error="4010 slug"
    )


def test_a_mapping_change_records_who_and_the_fields_before_and_after(client, carrier_mappings):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    mapping = CarrierMapping.objects.get(odoo_carrier_id=4)
    url = reverse("admin:sync_carriermapping_change", args=[mapping.pk])

    form = mapping_form(slug="dhl-global-mail", custom_fields='{"weight": "weight"}')
    assert client.post(url, form).status_code == 302

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.via, entry.action) == ("lena", "admin", AuditAction.MAPPING_CHANGED)
    assert entry.target == f"Carrier {mapping.odoo_carrier_name}"
    assert (entry.object_type, entry.object_id) == ("carriermapping", str(mapping.pk))
    assert entry.before == {"slug": "dhl", "custom_fields": {}}
    assert entry.after == {"slug": "dhl-global-mail", "custom_fields": {"weight": "weight"}}

    # Saving the same values again changes nothing and records nothing.
    client.post(url, form)
    assert AuditEntry.objects.count() == 1


def test_adding_and_deleting_a_mapping_are_recorded(admin_client, db):
    from sync.audit import Actor
    from sync.carriers import carrier_mapping_save

    mapping = CarrierMapping.objects.create(odoo_carrier_id=77, odoo_carrier_name="Bpost")
    fresh = CarrierMapping(odoo_carrier_id=78, odoo_carrier_name="PostNL", slug="postnl")
    carrier_mapping_save(mapping=fresh, actor=Actor("ops", "admin"))
    response = admin_client.post(
        reverse("admin:sync_carriermapping_delete", args=[mapping.pk]), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200

    added, deleted = AuditEntry.objects.order_by("id")
    assert (added.action, added.before, added.after["slug"]) == (AuditAction.MAPPING_ADDED, None, "postnl")
    assert (deleted.action, deleted.actor, deleted.after) == (AuditAction.MAPPING_DELETED, "admin", None)
    assert deleted.before["odoo_carrier_name"] == "Bpost"
    assert not CarrierMapping.objects.filter(pk=mapping.pk).exists()


def test_retrying_a_job_from_the_admin_records_its_state_before_and_after(client, failed_job):
    client.force_login(staff("ops", INTEGRATION_ADMINS))
    url = reverse("admin:sync_syncjob_changelist")

    client.post(url, {"action": "retry_jobs", "_selected_action": [failed_job.pk]})
    client.post(url, {"action": "retry_jobs", "_selected_action": [failed_job.pk]})  # now pending: not retried

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_id) == ("ops", AuditAction.RETRY, str(failed_job.pk))
    assert entry.before == {"state": "failed", "attempts": 3, "last_error": "4010 slug"}
    assert entry.after == {"state": "pending", "attempts": 0}


def test_resync_and_reprocess_from_the_admin_are_recorded(client, db):
    shipment = dhl_shipment()
    event = TrackingEvent.objects.create(
        body=b"{}", state=EventState.FAILED, error="OperationalError: disk full", tracking_number="4815162342"
    )
    client.force_login(staff("ops", INTEGRATION_ADMINS))

    client.post(
        reverse("admin:sync_shipment_changelist"), {"action": "resync_from_odoo", "_selected_action": [shipment.pk]}
    )
    client.post(reverse("admin:sync_trackingevent_changelist"), {"action": "reprocess", "_selected_action": [event.pk]})

    resync, reprocess = AuditEntry.objects.order_by("id")
    assert (resync.action, resync.target) == (AuditAction.RESYNC, "Delivery WH/OUT/00015")
    assert SyncJob.objects.filter(kind=JobKind.PICKING_SYNC, picking_id=shipment.picking_id).exists()
    assert reprocess.action == AuditAction.REPROCESS
    assert reprocess.before == {"state": "failed", "error": "OperationalError: disk full"}
    assert reprocess.after["state"] in {"received", "failed"}


def test_lifting_an_address_block_is_recorded(client, db):
    now = timezone.now()
    block = AddressBlock.objects.create(
        address="203.0.113.9", blocked_at=now, blocked_until=now + timedelta(hours=1), failures=20
    )
    client.force_login(staff("ops", INTEGRATION_ADMINS))

    client.post(reverse("admin:webhooks_addressblock_changelist"), {"action": "lift", "_selected_action": [block.pk]})

    block.refresh_from_db()
    entry = AuditEntry.objects.get()
    assert (block.lifted_by, entry.actor, entry.action) == ("ops", "ops", AuditAction.UNBLOCK)
    assert entry.target == "Address 203.0.113.9" and entry.before["failed attempts"] == 20
    client.force_login(staff("lena", LOGISTICS_MANAGERS))  # callers' addresses are for integration admins
    assert "203.0.113.9" not in client.get(reverse("admin:sync_auditentry_changelist")).content.decode()


def test_commands_record_the_person_at_the_shell(db, odoo, aftership, settings):
    settings.SYNC_DRAIN_THREADS = 1  # worker threads could not see this test's uncommitted transaction
    ServiceState.objects.create(service="aftership", credentials_ok=False, paused_reason="The API Key is invalid.")

    call_command("purge", "--dry-run", stdout=StringIO())
    assert not AuditEntry.objects.exists()  # a dry run changes nothing, so there is nothing to record
    call_command("purge", stdout=StringIO())
    with contextlib.suppress(SystemExit):  # its exit code is another test's
        call_command("check_connections", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(SystemExit):
        call_command("sync_now", "--pickings", "WH/OUT/00099", stdout=StringIO(), stderr=StringIO())

    entries = {entry.action: entry for entry in AuditEntry.objects.all()}
    assert set(entries) == {AuditAction.PURGE, AuditAction.RESUME, AuditAction.RESYNC}
    assert {entry.actor for entry in entries.values()} == {getpass.getuser()}
    assert {entry.via for entry in entries.values()} == {"command"}
    assert entries[AuditAction.PURGE].detail == "manage.py purge"
    assert entries[AuditAction.RESUME].target == "AfterShip"
    assert entries[AuditAction.RESYNC].target == "Deliveries named WH/OUT/00099"
    assert entries[AuditAction.RESYNC].after["errors"] == 1


def test_the_audit_log_is_read_only_and_filterable(client, failed_job):
    from sync.audit import Actor
    from sync.recovery import jobs_retry

    jobs_retry(jobs=[failed_job], actor=Actor("ops", "admin"))
    entry = AuditEntry.objects.get()
    client.force_login(staff("lena", LOGISTICS_MANAGERS))

    listing = client.get(reverse("admin:sync_auditentry_changelist") + "?action=retry").content.decode()
    assert "Retried" in listing and "Create the AfterShip tracking for WH/OUT/00015 (4815162342)" in listing
    assert "state: Failed (needs attention) → Waiting" in listing
    link = reverse("admin:sync_auditentry_change", args=[entry.pk])
    assert link in listing
    assert link not in client.get(reverse("admin:sync_auditentry_changelist") + "?action=purge").content.decode()
    page = client.get(reverse("admin:sync_auditentry_change", args=[entry.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client.post(reverse("admin:sync_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:sync_auditentry_add")).status_code == 403
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert client.post(reverse("admin:sync_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()  # not even a superuser deletes it


def test_the_audit_log_is_kept_for_its_own_period(db, settings):
    settings.RETENTION_DAYS, settings.AUDIT_RETENTION_DAYS = 30, 730
    old = AuditEntry.objects.create(actor="ops", via="admin", action=AuditAction.RETRY)
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=731))
    recent = timezone.now() - timedelta(days=400)
    AuditEntry.objects.create(actor="ops", via="admin", action=AuditAction.RETRY, at=recent)

    call_command("purge", stdout=StringIO())

    assert AuditEntry.objects.filter(action=AuditAction.RETRY).count() == 1
    assert AuditEntry.objects.filter(action=AuditAction.PURGE).count() == 1


def test_purge_aftership_deletes_completed_trackings_within_the_rate_limit(aftership, db, settings):
    settings.RETENTION_DAYS = 180
    old = timezone.now() - timedelta(days=200)
    shipments = []
    for i in range(7):
        number = f"48153{i:05d}"
        # The sixth is gone from AfterShip already (expired, or deleted by hand).
        tracking = (
            {"id": "gone0000000000000000000000000000"}
            if i == 5
            else aftership.create_tracking({"tracking_number": number, "slug": "dhl"})
        )
        status = ShipmentStatus.DONE if i < 6 else ShipmentStatus.IN_TRANSIT
        shipment = dhl_shipment(picking_id=100 + i, tracking_number=number, aftership_id=tracking["id"], status=status)
        shipments.append(shipment)
    Shipment.objects.update(updated_at=old)
    aftership.clear_log()

    out = StringIO()
    call_command("purge", "--aftership", "--dry-run", stdout=out)
    assert "AfterShip trackings of 6 parcels completed before" in out.getvalue()
    assert aftership.requests_to("/tracking/2026-07/trackings", "DELETE") == []

    out = StringIO()
    call_command("purge", "--aftership", stdout=out)

    assert "5 deleted, 1 already gone from AfterShip, 0 refused by AfterShip." in out.getvalue()
    deletes = aftership.requests_to("/tracking/2026-07/trackings", "DELETE")
    assert len(deletes) == 6 and all(r.status in (200, 404) for r in deletes)  # none refused with 429
    assert [t["tracking_number"] for t in aftership.trackings.values()] == ["4815300006"]  # the one in transit
    assert Shipment.objects.filter(aftership_deleted_at__isnull=False).count() == 6
    entry = AuditEntry.objects.get(action=AuditAction.PURGE, target__startswith="AfterShip")
    assert entry.after == {"deleted": 5, "already gone": 1, "refused": 0}

    out = StringIO()
    call_command("purge", "--aftership", stdout=out)  # nothing left to delete: no call
    assert "AfterShip trackings of 0 parcels" in out.getvalue()
    assert len(aftership.requests_to("/tracking/2026-07/trackings", "DELETE")) == 6


def test_purge_aftership_spaces_deletions_at_afterships_limit(settings):
    from sync.ratelimit import aftership_limiter

    settings.AFTERSHIP_RATE_HEADROOM = 0.96
    limiter = aftership_limiter()
    assert limiter.interval("delete_tracking") == pytest.approx(1 / (5 * 0.96))


def test_purge_aftership_stops_on_a_refused_key_and_says_so(aftership, db, settings):
    from django.core.management.base import CommandError

    settings.RETENTION_DAYS = 180
    tracking = aftership.create_tracking({"tracking_number": "4815300001", "slug": "dhl"})
    dhl_shipment(aftership_id=tracking["id"], status=ShipmentStatus.DONE)
    Shipment.objects.update(updated_at=timezone.now() - timedelta(days=200))
    settings.AFTERSHIP_API_KEY = "revoked"

    with pytest.raises(CommandError, match="Stopped with 1 left: The API Key is invalid"):
        call_command("purge", "--aftership", stdout=StringIO())
    assert ServiceState.objects.get(service="aftership").credentials_ok is False
    with pytest.raises(CommandError, match="AfterShip refused the API key earlier"):
        call_command("purge", "--aftership", stdout=StringIO())


def test_purge_aftership_keeps_most_of_the_daily_quota_for_new_parcels(aftership, db, settings):
    settings.RETENTION_DAYS, settings.AFTERSHIP_DAILY_QUOTA = 180, 30
    for i in range(5):
        tracking = aftership.create_tracking({"tracking_number": f"48154{i:05d}", "slug": "dhl"})
        dhl_shipment(picking_id=200 + i, tracking_number=f"48154{i:05d}", aftership_id=tracking["id"], status="done")
    Shipment.objects.update(updated_at=timezone.now() - timedelta(days=200))

    out = StringIO()
    call_command("purge", "--aftership", stdout=out)

    assert "3 deleted" in out.getvalue() and "2 left for the next run (--limit 3)." in out.getvalue()
    assert Shipment.objects.filter(aftership_deleted_at__isnull=False).count() == 3

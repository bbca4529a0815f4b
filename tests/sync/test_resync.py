"""The resync page: integration admins ask for deliveries to be read again; a worker does it and says how it went."""

from __future__ import annotations

from datetime import timedelta

import django_q.tasks
import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from sync.models import AuditAction, AuditEntry, JobKind, Resync, ResyncState, Shipment, SyncJob
from sync.permissions import INTEGRATION_ADMINS, LOGISTICS_MANAGERS
from sync.resync import resync_run, resyncs_ring_stale

pytestmark = pytest.mark.django_db


def staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def rung(monkeypatch):
    """The tasks queued for the workers (the doorbells), by function and arguments."""
    queued = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    return queued


def test_an_integration_admin_asks_for_a_resync_and_a_worker_runs_it(
    client, odoo, carrier_mappings, rung, django_capture_on_commit_callbacks
):
    client.force_login(staff("ops", INTEGRATION_ADMINS))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:sync_resync_add"),
            {"orders": " S00025,S00999 ", "pickings": "", "since": "", "until": ""},
            follow=True,
        )

    resync = Resync.objects.get()
    assert (resync.state, resync.requested_by, resync.orders) == (ResyncState.QUEUED, "ops", "S00025, S00999")
    assert response.redirect_chain[-1][0] == reverse("admin:sync_resync_change", args=[resync.pk])
    page = response.content.decode()
    assert "Waiting for a worker" in page and 'http-equiv="refresh"' in page
    assert ("sync.tasks.run_resync", (resync.pk,)) in rung
    assert AuditEntry.objects.get(action=AuditAction.RESYNC).object_id == str(resync.pk)

    resync = resync_run(resync_id=resync.pk)

    assert resync.state == ResyncState.DONE
    assert resync.not_found == ["No sale order named S00999 in Odoo."]
    assert (
        resync.deliveries >= 1
        and resync.trackings_queued == SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING).count()
    )
    assert Shipment.objects.filter(sale_order_name="S00025").exists()
    page = client.get(reverse("admin:sync_resync_change", args=[resync.pk])).content.decode()
    assert "No sale order named S00999 in Odoo." in page and 'http-equiv="refresh"' not in page
    assert resync_run(resync_id=resync.pk) is None  # a second worker finds it taken


def test_a_resync_says_what_to_give_and_in_which_order(client, db):
    client.force_login(staff("ops", INTEGRATION_ADMINS))
    url = reverse("admin:sync_resync_add")

    page = client.post(url, {"orders": "", "pickings": ""}).content.decode()
    assert "Say what to resync: a period, sale orders or deliveries" in page
    page = client.post(url, {"since_0": "2026-11-20", "since_1": "00:00", "until_0": "2026-11-01", "until_1": "00:00"})
    assert "must come before" in page.content.decode()
    assert not Resync.objects.exists()


def test_odoo_unreachable_fails_the_resync_with_the_reason(db, settings):
    settings.ODOO_URL = "http://127.0.0.1:9"
    resync = Resync.objects.create(requested_by="ops", orders="S00025")

    resync = resync_run(resync_id=resync.pk)

    assert resync.state == ResyncState.FAILED and "Cannot reach Odoo" in resync.error


def test_a_lost_ring_is_rung_again_by_the_dispatcher(db, rung):
    fresh = Resync.objects.create(requested_by="ops", orders="S00025")
    old = Resync.objects.create(requested_by="ops", orders="S00026")
    Resync.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    assert resyncs_ring_stale() == 1
    assert rung == [("sync.tasks.run_resync", (old.pk,))]  # not the one asked a moment ago
    assert Resync.objects.get(pk=fresh.pk).state == ResyncState.QUEUED


def test_bulk_resync_is_for_integration_admins(client, db):
    client.force_login(staff("lena", LOGISTICS_MANAGERS))
    assert client.get(reverse("admin:sync_resync_add")).status_code == 403


def test_a_resync_whose_worker_died_goes_back_to_the_queue(db, rung, settings):
    settings.Q_TIMEOUT = 120
    long_ago = timezone.now() - timedelta(minutes=10)
    dead = Resync.objects.create(requested_by="ops", orders="S00025", state=ResyncState.RUNNING, started_at=long_ago)
    Resync.objects.filter(pk=dead.pk).update(created_at=long_ago)
    busy = Resync.objects.create(
        requested_by="ops", orders="S00026", state=ResyncState.RUNNING, started_at=timezone.now()
    )

    assert resyncs_ring_stale() == 1

    dead.refresh_from_db()
    busy.refresh_from_db()
    assert (dead.state, busy.state) == (ResyncState.QUEUED, ResyncState.RUNNING)
    assert rung == [("sync.tasks.run_resync", (dead.pk,))]


def test_a_large_resync_is_read_over_several_runs_and_its_figures_add_up(odoo, carrier_mappings, rung, settings):
    settings.SYNC_PAGE_SIZE, settings.SYNC_CATCHUP_BUDGET_SECONDS = 3, 0  # one page a run
    resync = Resync.objects.create(requested_by="ops", since=timezone.now() - timedelta(days=3650))

    runs = 0
    while resync.state != ResyncState.DONE and runs < 10:
        resync = resync_run(resync_id=resync.pk)
        runs += 1
        assert resync.state in (ResyncState.QUEUED, ResyncState.DONE)

    assert runs == resync.runs > 1
    assert resync.deliveries == Shipment.objects.values("picking_id").distinct().count()
    assert resync.trackings_queued == SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING).count()


def test_anything_unexpected_fails_the_resync_with_its_reason(db, monkeypatch):
    import sync.pull

    def broken(*args, **kwargs):
        raise ValueError("odd data from Odoo")

    monkeypatch.setattr(sync.pull, "pull_selection", broken)
    resync = resync_run(resync_id=Resync.objects.create(requested_by="ops", orders="S00025").pk)

    assert resync.state == ResyncState.FAILED and resync.error == "ValueError: odd data from Odoo"

"""What `migrate` sets up besides tables: the recurring tasks and the two roles, idempotently."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django_q.models import Schedule

from sync.permissions import groups_ensure
from sync.schedules import schedules_ensure

pytestmark = pytest.mark.django_db


def test_the_schedules_exist_once_with_the_configured_intervals(settings):
    settings.SYNC_PULL_INTERVAL_MINUTES = 3
    schedules_ensure()
    schedules_ensure()

    schedules = {s.name: (s.func, s.minutes, s.repeats) for s in Schedule.objects.all()}
    assert schedules == {
        "Pull validated deliveries from Odoo": ("sync.tasks.pull_deliveries", 3, -1),
        "Catch up on deliveries of the last days": ("sync.tasks.catchup_deliveries", 60, -1),
        "Dispatch due sync jobs": ("sync.tasks.dispatch_jobs", 1, -1),
        "Reconcile trackings changed in AfterShip": ("sync.tasks.reconcile_trackings", 360, -1),
        "Purge records past their retention": ("sync.tasks.purge_old_records", 1440, -1),
    }


def test_a_schedule_of_an_earlier_version_is_replaced():
    Schedule.objects.create(name="Purge the webhook security log", func="webhooks.tasks.purge_security_log")

    schedules_ensure()

    assert not Schedule.objects.filter(func="webhooks.tasks.purge_security_log").exists()
    assert Schedule.objects.filter(func="sync.tasks.purge_old_records").exists()


def test_a_reconciliation_interval_of_zero_removes_its_schedule(settings):
    schedules_ensure()
    settings.AFTERSHIP_RECONCILE_INTERVAL_HOURS = 0
    schedules_ensure()

    assert not Schedule.objects.filter(func="sync.tasks.reconcile_trackings").exists()


def test_the_roles_have_their_permissions():
    groups_ensure()
    groups_ensure()

    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert "change_carriermapping" in codenames("Logistics managers")
    assert "resync_shipments" not in codenames("Logistics managers")
    assert "view_securityevent" not in codenames("Logistics managers")  # callers' addresses: admins only
    assert {"view_securityevent", "view_addressblock"} <= codenames("Integration admins")
    assert {"resync_shipments", "change_carriermapping", "view_syncjob"} <= codenames("Integration admins")

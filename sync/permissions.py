"""The two roles of the portal, as Django groups kept in step with the code on every migrate."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

LOGISTICS_MANAGERS = "Logistics managers"
INTEGRATION_ADMINS = "Integration admins"

_VIEW = [
    "view_shipment",
    "view_checkpoint",
    "view_syncjob",
    "view_trackingevent",
    "view_carriermapping",
    "view_apiusage",
    "view_servicestate",
    "view_synccursor",
    "view_statuschange",
    "view_auditentry",
]
# The intake's security records: integration admins only (addresses of callers, refused requests).
_SECURITY = ["webhooks.view_securityevent", "webhooks.view_addressblock", "view_alert"]
ROLES = {
    # Map Odoo carriers to AfterShip couriers, see how parcels are doing, and retry, resync or mark reviewed
    # single parcels and a carrier's parcels once its mapping is fixed.
    LOGISTICS_MANAGERS: [*_VIEW, "change_carriermapping", "retry_parcels"],
    # Recover from failures: retry jobs, resync deliveries, replay events; edit mappings too.
    INTEGRATION_ADMINS: [
        *_VIEW,
        *_SECURITY,
        "change_carriermapping",
        "add_carriermapping",
        "resync_shipments",
        "retry_parcels",
        "add_resync",
        "view_resync",
    ],
}


def groups_ensure() -> None:
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Q()
        for codename in codenames:
            app, _, code = codename.rpartition(".")
            wanted |= Q(content_type__app_label=app or "sync", codename=code)
        group.permissions.set(Permission.objects.filter(wanted))

"""The recurring work, registered in django-q2 by name so running this again only updates it."""

from __future__ import annotations

from django.conf import settings

RECONCILE_SCHEDULE = "Reconcile trackings changed in AfterShip"


def schedule_specs() -> list[dict]:
    return [
        {
            "name": "Pull validated deliveries from Odoo",
            "func": "sync.tasks.pull_deliveries",
            "minutes": settings.SYNC_PULL_INTERVAL_MINUTES,
        },
        {
            "name": "Catch up on deliveries of the last days",
            "func": "sync.tasks.catchup_deliveries",
            "minutes": settings.SYNC_FULL_PULL_INTERVAL_MINUTES,
        },
        {"name": "Dispatch due sync jobs", "func": "sync.tasks.dispatch_jobs", "minutes": 1},
        {"name": "Purge records past their retention", "func": "sync.tasks.purge_old_records", "minutes": 24 * 60},
        {
            "name": RECONCILE_SCHEDULE,
            "func": "sync.tasks.reconcile_trackings",
            "minutes": round(settings.AFTERSHIP_RECONCILE_INTERVAL_HOURS * 60),
        },
    ]


# Schedules of earlier versions, now part of another.
RETIRED_SCHEDULES = ["Purge the webhook security log"]


def schedules_ensure() -> None:
    from django_q.models import Schedule

    Schedule.objects.filter(name__in=RETIRED_SCHEDULES).delete()

    for spec in schedule_specs():
        if spec["minutes"] <= 0:  # switched off
            Schedule.objects.filter(name=spec["name"]).delete()
            continue
        Schedule.objects.update_or_create(
            name=spec["name"],
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )

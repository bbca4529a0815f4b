"""The recurring work, registered in django-q2 by name so running this again only updates it."""

from __future__ import annotations

from django.conf import settings


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
    ]


def schedules_ensure() -> None:
    from django_q.models import Schedule

    for spec in schedule_specs():
        Schedule.objects.update_or_create(
            name=spec["name"],
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )

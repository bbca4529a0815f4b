"""Apply every received AfterShip event and write the news to Odoo now, in this process."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from sync.inbound import EventStats, events_backlog, events_process, events_rematch
from sync.jobs import jobs_drain
from sync.models import JobKind, ServiceState, Shipment, StatusChange
from sync.writeback import writebacks_backlog, writebacks_ensure


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


class Command(BaseCommand):
    help = (
        "Apply every received AfterShip tracking event to its shipment and write the news to Odoo (notes, "
        "fields, activities, customer messages) now, then say what is still waiting and why. Exits with "
        "status 1 while anything is left waiting or failed (for example while Odoo is unreachable: the work "
        "waits for the next run or a worker). Running it again writes nothing new."
    )

    def handle(self, *args, **options):
        started = timezone.now()
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            events = self._apply(stop)
            if not stop.is_set():
                self._write(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._summary(events, started, stopped=stop.is_set())

    def _apply(self, stop: threading.Event) -> EventStats:
        self.stdout.write("Applying received AfterShip events ...")
        events_rematch()
        total = EventStats()
        while not stop.is_set():
            stats = events_process(limit=500)
            for name in ("applied", "duplicates", "ignored", "failed", "status_changes", "unmatched"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
            if stats.handled == 0:
                break
            self.stdout.write(f"  {_plural(total.applied, 'event')} applied so far")
        return total

    def _write(self, stop: threading.Event) -> None:
        self.stdout.write("Writing the news to Odoo ...")
        writebacks_ensure(stale_after_seconds=0)
        jobs_drain(budget_seconds=24 * 3600, threads=1, stop=stop, once=True, kinds=[JobKind.WRITEBACK])

    def _summary(self, events: EventStats, started, *, stopped: bool) -> None:
        written = StatusChange.objects.filter(written_at__gte=started)
        notes = written.exclude(note_id=None).count()
        activities = written.exclude(activity_id=None).count()
        customers = written.exclude(customer_message_id=None).count()
        fields = Shipment.objects.filter(odoo_written_at__gte=started).count()
        self.stdout.write(
            f"{_plural(events.applied, 'event')} applied, {_plural(events.duplicates, 'duplicate')} skipped, "
            f"{_plural(events.status_changes, 'change')} of status; in Odoo: {_plural(notes, 'note')} posted, "
            f"fields written on {_plural(fields, 'delivery', 'deliveries')}, "
            f"{_plural(activities, 'activity', 'activities')} created, "
            f"{_plural(customers, 'customer message')} sent."
        )
        backlog = events_backlog()
        if backlog.unmatched_old:
            self.stdout.write(
                f"{_plural(backlog.unmatched_old, 'event')} for trackings the portal does not know, older than "
                f"{settings.SYNC_FULL_PULL_LOOKBACK_HOURS} hours: trackings made outside this Odoo, most likely."
            )
        problems = self._problems(backlog)
        if stopped:
            problems.insert(0, "Stopped before the end; run it again to finish.")
        if problems:
            for line in problems:
                self.stderr.write(self.style.ERROR(line))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Nothing left waiting."))

    def _problems(self, backlog) -> list[str]:
        lines = []
        if backlog.received:
            lines.append(
                f"{_plural(backlog.received, 'event')} still waiting to be applied (another worker may hold them)."
            )
        if backlog.failed:
            lines.append(
                f"{_plural(backlog.failed, 'event')} failed: see Tracking events (state Failed) in the admin for the "
                "error, and reprocess them once the cause is fixed."
            )
        if backlog.unmatched_recent:
            lines.append(
                f"{_plural(backlog.unmatched_recent, 'event')} for trackings the portal does not know yet: applied "
                "once their delivery is pulled from Odoo (python manage.py sync_now)."
            )
        if ServiceState.objects.filter(service=ServiceState.ODOO, credentials_ok=False).exists():
            lines.append("Odoo refused the portal's login: write-backs are paused until ODOO_API_KEY is fixed.")
        waiting, failed = writebacks_backlog()
        for reason, count in waiting.most_common(5):
            lines.append(f"{_plural(count, 'delivery', 'deliveries')} waiting to be written to Odoo: {reason}")
        for reason, count in failed.most_common(5):
            lines.append(f"{_plural(count, 'write-back')} failed: {reason} Retry in the admin's Sync jobs once fixed.")
        return lines

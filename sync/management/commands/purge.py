"""Delete what is past its retention: RETENTION_DAYS for the portal's records, its own period for the logs."""

from __future__ import annotations

import signal
import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Delete webhook events, job attempts, finished jobs, API usage and the scans of parcels delivered "
        "more than RETENTION_DAYS ago, the webhook security log after SECURITY_LOG_RETENTION_DAYS and the "
        "audit log after AUDIT_RETENTION_DAYS. Events still waiting to be applied are kept. The same runs "
        "daily on the workers. With --aftership, also delete from AfterShip the trackings of parcels "
        "completed before the retention date (5 a second, AfterShip's limit)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
        parser.add_argument(
            "--aftership",
            action="store_true",
            help="also delete the AfterShip trackings of parcels delivered or expired before the retention date",
        )
        parser.add_argument(
            "--limit",
            type=int,
            help="with --aftership, delete at most this many in this run "
            "(default: a tenth of AFTERSHIP_DAILY_QUOTA when set, else all)",
        )

    def handle(self, *args, **options):
        from sync.audit import Actor
        from sync.retention import records_purge

        dry_run = options["dry_run"]
        actor = Actor.from_command("purge" + (" --aftership" if options["aftership"] else ""))
        cutoff, counts = records_purge(dry_run=dry_run, actor=actor)
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"Records from before {cutoff:%Y-%m-%d %H:%M} UTC ({verb}):")
        width = max(len(label) for label in counts)
        for label, count in counts.items():
            self.stdout.write(f"  {label:<{width}}  {count}")
        total = sum(counts.values())
        self.stdout.write(self.style.SUCCESS(f"{total} {'row' if total == 1 else 'rows'} {verb}."))
        if options["aftership"]:
            self._aftership(dry_run=dry_run, limit=options["limit"], actor=actor)

    def _aftership(self, *, dry_run: bool, limit: int | None, actor) -> None:
        from django.conf import settings

        from sync.clients import aftership_client
        from sync.health import service_paused
        from sync.models import ServiceState
        from sync.retention import aftership_trackings_purge

        if not dry_run and service_paused(ServiceState.AFTERSHIP):
            raise CommandError(
                "AfterShip refused the API key earlier; no tracking was deleted. "
                "Fix AFTERSHIP_API_KEY, run `manage.py check_connections`, then purge again."
            )
        if limit is None and settings.AFTERSHIP_DAILY_QUOTA:
            limit = max(settings.AFTERSHIP_DAILY_QUOTA // 10, 1)  # most of the day's quota stays for new parcels
        last = [time.monotonic()]

        def progress(result) -> None:
            if time.monotonic() - last[0] >= 5:
                last[0] = time.monotonic()
                self.stdout.write(f"  {result.handled} of {result.candidates} done ...")

        def stop(*_):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, stop)  # stopped either way, what was deleted is audited
        client = aftership_client()
        try:
            result = aftership_trackings_purge(
                client=client, dry_run=dry_run, limit=limit, actor=actor, on_progress=progress
            )
        finally:
            client.close()
            signal.signal(signal.SIGTERM, previous)
        parcels = "parcel" if result.candidates == 1 else "parcels"
        when = f"{result.cutoff:%Y-%m-%d %H:%M} UTC"
        head = f"AfterShip trackings of {result.candidates} {parcels} completed before {when}"
        if dry_run:
            self.stdout.write(f"{head}: would be deleted" + (f", {limit} in one run." if limit else "."))
            return
        self.stdout.write(
            f"{head}: {result.deleted} deleted, {result.already_gone} already gone from AfterShip, "
            f"{len(result.refused)} refused by AfterShip."
        )
        for refusal in result.refused[:20]:
            self.stderr.write(f"  refused: {refusal}")
        left = result.candidates - result.handled
        if result.error:
            raise CommandError(f"Stopped with {left} left: {result.error}. Run the command again to go on.")
        if left:
            self.stdout.write(f"{left} left for the next run (--limit {limit}).")

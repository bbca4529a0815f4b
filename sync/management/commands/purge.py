"""Delete what is past its retention: RETENTION_DAYS for the portal's records, its own period for the logs."""

from __future__ import annotations

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
            self._aftership(dry_run=dry_run, actor=actor)

    def _aftership(self, *, dry_run: bool, actor) -> None:
        from sync.clients import aftership_client
        from sync.health import service_paused
        from sync.models import ServiceState
        from sync.retention import aftership_trackings_purge

        if not dry_run and service_paused(ServiceState.AFTERSHIP):
            raise CommandError(
                "AfterShip refused the API key earlier; no tracking was deleted. "
                "Fix AFTERSHIP_API_KEY, run `manage.py check_connections`, then purge again."
            )
        client = aftership_client()
        try:
            result = aftership_trackings_purge(client=client, dry_run=dry_run, actor=actor)
        finally:
            client.close()
        parcels = "parcel" if result.candidates == 1 else "parcels"
        when = f"{result.cutoff:%Y-%m-%d %H:%M} UTC"
        head = f"AfterShip trackings of {result.candidates} {parcels} completed before {when}"
        if dry_run:
            self.stdout.write(f"{head}: would be deleted.")
            return
        self.stdout.write(f"{head}: {result.deleted} deleted, {result.already_gone} already gone from AfterShip.")
        if result.error:
            left = result.candidates - result.deleted - result.already_gone
            raise CommandError(f"Stopped with {left} left: {result.error}. Run the command again to go on.")

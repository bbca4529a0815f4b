"""Delete what is past its retention: RETENTION_DAYS for the portal's records, its own period for the security log."""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Delete webhook events, job attempts, finished jobs, API usage and the scans of parcels delivered "
        "more than RETENTION_DAYS ago, and the webhook security log after SECURITY_LOG_RETENTION_DAYS. "
        "Events still waiting to be applied are kept. The same runs daily on the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    def handle(self, *args, **options):
        from sync.retention import records_purge

        dry_run = options["dry_run"]
        cutoff, counts = records_purge(dry_run=dry_run)
        verb = "would be deleted" if dry_run else "deleted"
        self.stdout.write(f"Records from before {cutoff:%Y-%m-%d %H:%M} UTC ({verb}):")
        width = max(len(label) for label in counts)
        for label, count in counts.items():
            self.stdout.write(f"  {label:<{width}}  {count}")
        total = sum(counts.values())
        self.stdout.write(self.style.SUCCESS(f"{total} {'row' if total == 1 else 'rows'} {verb}."))

"""Pull validated deliveries from Odoo and create their AfterShip trackings now, in this process."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime
from datetime import time as dtime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from sync.clients import odoo_client
from sync.jobs import DrainStats, jobs_drain
from sync.odoo import OdooError
from sync.pull import PullStats, pull_incremental, pull_selection


def _moment(value: str, option: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)):
        parsed = datetime.combine(day, dtime.min)
    if parsed is None:
        raise CommandError(f"{option} {value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class Command(BaseCommand):
    help = (
        "Read validated deliveries from Odoo and create their AfterShip trackings now. Without options it "
        "runs the incremental pull; with options it resyncs deliveries validated in a date range, of chosen "
        "sale orders or chosen deliveries. Exits with status 1 if anything failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="deliveries validated on or after this date (YYYY-MM-DD[ HH:MM])")
        parser.add_argument("--until", help="deliveries validated before this date (YYYY-MM-DD[ HH:MM])")
        parser.add_argument("--orders", help="comma-separated sale orders, e.g. SO001,SO002")
        parser.add_argument("--pickings", help="comma-separated deliveries by name or id, e.g. WH/OUT/00012,42")
        parser.add_argument("--threads", type=int, default=settings.SYNC_DRAIN_THREADS, help="parallel AfterShip calls")

    def handle(self, *args, **options):
        since = _moment(options["since"], "--since") if options["since"] else None
        until = _moment(options["until"], "--until") if options["until"] else None
        if since and until and since >= until:
            raise CommandError("--since must be before --until.")
        orders, pickings = _names(options["orders"]), _names(options["pickings"])
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            pull = self._pull(since, until, orders, pickings)
            drain = self._drain(options["threads"], stop)
        finally:
            signal.signal(signal.SIGTERM, previous)
        self._summary(pull, drain, stopped=stop.is_set())

    def _pull(self, since, until, orders, pickings) -> PullStats:
        selective = bool(since or until or orders or pickings)
        self.stdout.write("Reading validated deliveries from Odoo" + (" (resync)" if selective else "") + " ...")

        def page(stats: PullStats) -> None:
            self.stdout.write(
                f"  page {stats.pages}: {stats.pickings} deliveries read, {stats.jobs_queued} trackings queued"
            )

        try:
            with odoo_client() as client:
                if selective:
                    stats = pull_selection(
                        client, since=since, until=until, orders=orders, pickings=pickings, on_page=page
                    )
                else:
                    stats = pull_incremental(client, on_page=page)
        except OdooError as exc:
            raise CommandError(f"Odoo: {exc}") from exc
        for error in stats.errors:
            self.stderr.write(self.style.WARNING(error))
        return stats

    def _drain(self, threads: int, stop: threading.Event) -> DrainStats:
        self.stdout.write("Sending trackings to AfterShip ...")
        last = [time.monotonic()]

        def progress(stats: DrainStats) -> None:
            if time.monotonic() - last[0] >= 2:
                last[0] = time.monotonic()
                done = stats.outcomes.get("done", 0)
                self.stdout.write(f"  {stats.ran} jobs run: {done} done")

        return jobs_drain(budget_seconds=24 * 3600, threads=threads, on_job=progress, stop=stop, once=True)

    def _summary(self, pull: PullStats, drain: DrainStats, *, stopped: bool) -> None:
        from sync.models import OPEN_JOB_STATES, JobKind, SyncJob

        failed = drain.outcomes.get("fail", 0)
        queued = SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, state__in=OPEN_JOB_STATES).count()
        line = (
            f"{pull.pickings} deliveries read ({pull.pages} pages, {pull.odoo_calls} Odoo calls); "
            f"{pull.shipments_new} new parcels; {drain.outcomes.get('done', 0)} jobs done, "
            f"{failed} need review, {queued} still queued; {pull.already_tracked} already tracked."
        )
        if failed or queued or pull.errors or stopped:
            self.stderr.write(self.style.ERROR(("Stopped early. " if stopped else "") + line))
            if queued:
                self.stderr.write(
                    "Queued trackings are retried by the workers; see Sync jobs in the admin for the last error."
                )
            if failed:
                self.stderr.write("See Shipments needing review in the admin for the reasons.")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(line))

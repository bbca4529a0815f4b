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
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)):
            parsed = datetime.combine(day, dtime.min)
    except ValueError:  # well formed, but no such day or time (2026-13-01)
        parsed = None
    if parsed is None:
        raise CommandError(f"{option} {value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


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
        # Ctrl-C and SIGTERM alike: the calls in flight finish, no new one starts, the summary says what stays.
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            pull = self._pull(since, until, orders, pickings)
            if since or until or orders or pickings:
                self._audit(since, until, orders, pickings, pull)
            drain = self._drain(options["threads"], stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._summary(pull, drain, stopped=stop.is_set())

    def _pull(self, since, until, orders, pickings) -> PullStats:
        selective = bool(since or until or orders or pickings)
        self.stdout.write("Reading validated deliveries from Odoo" + (" (resync)" if selective else "") + " ...")

        def page(stats: PullStats) -> None:
            self.stdout.write(
                f"  page {stats.pages}: {_count(stats.pickings, 'delivery', 'deliveries')} read, "
                f"{_count(stats.jobs_queued, 'tracking')} queued"
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

    def _audit(self, since, until, orders, pickings, pull: PullStats) -> None:
        from sync.audit import Actor, audit_record
        from sync.models import AuditAction

        scope = [
            *([f"validated since {since:%Y-%m-%d %H:%M}"] if since else []),
            *([f"validated before {until:%Y-%m-%d %H:%M}"] if until else []),
            *([f"of orders {', '.join(orders)}"] if orders else []),
            *([f"named {', '.join(pickings)}"] if pickings else []),
        ]
        audit_record(
            actor=Actor.from_command("sync_now"),
            action=AuditAction.RESYNC,
            target=("Deliveries " + "; ".join(scope))[:300],
            after={
                "deliveries read": pull.pickings,
                "new parcels": pull.shipments_new,
                "trackings queued": pull.jobs_queued,
                "errors": len(pull.errors),
            },
        )

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
        from sync.models import OPEN_JOB_STATES, JobKind, Shipment, ShipmentStatus, SyncJob

        # The deliveries of this run, including those an earlier run left waiting for review.
        scope = Shipment.objects.filter(picking_id__in=pull.picking_ids).exclude(status=ShipmentStatus.IGNORED)
        review = scope.filter(needs_review=True).count()
        untracked = scope.filter(aftership_id="").count()
        queued = SyncJob.objects.filter(kind=JobKind.CREATE_TRACKING, state__in=OPEN_JOB_STATES).count()
        line = (
            f"{_count(pull.pickings, 'delivery', 'deliveries')} read ({_count(pull.pages, 'page')}, "
            f"{_count(pull.odoo_calls, 'Odoo call')}); {_count(pull.shipments_new, 'new parcel')}; "
            f"{_count(drain.outcomes.get('done', 0), 'job')} done, "
            f"{_count(review, 'parcel needs', 'parcels need')} review, {queued} still queued; "
            f"{pull.already_tracked} already tracked."
        )
        if untracked or queued or pull.errors or stopped:
            self.stderr.write(self.style.ERROR(("Stopped early. " if stopped else "") + line))
            if untracked:
                self.stderr.write(f"{_count(untracked, 'parcel is', 'parcels are')} not tracked yet.")
            if queued:
                self.stderr.write(
                    "Queued trackings are retried by the workers; see Sync jobs in the admin for the last error."
                )
            if review:
                self.stderr.write("See Shipments needing review in the admin for the reasons.")
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(line))

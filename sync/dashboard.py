"""The admin's front page: one line saying whether the integration is healthy, the figures behind it (each
linked to its list), and a week of webhooks, AfterShip calls and failures per hour.

Computed with a fixed number of queries and kept in the cache for DASHBOARD_SECONDS, so a page that many
people keep open costs the database nothing more.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .models import (
    OPEN_JOB_STATES,
    ApiUsage,
    CarrierMapping,
    EventSource,
    EventState,
    JobState,
    ServiceState,
    Shipment,
    ShipmentStatus,
    SyncCursor,
    SyncJob,
    TrackingEvent,
)
from .pull import INCREMENTAL_CURSOR

DASHBOARD_SECONDS = 30
CACHE_KEY = "shiptrack:dashboard"
CHART_HOURS = 7 * 24


def dashboard_summary(*, fresh: bool = False) -> dict:
    """The front page's figures, from the cache when they are less than DASHBOARD_SECONDS old."""
    summary = None if fresh else cache.get(CACHE_KEY)
    if summary is None:
        summary = _compute()
        cache.set(CACHE_KEY, summary, DASHBOARD_SECONDS)
    return summary


def _compute() -> dict:
    from webhooks.models import SecurityEvent

    now = timezone.now()
    hour, day, week = now - timedelta(hours=1), now - timedelta(days=1), now - timedelta(days=7)
    parcels = Shipment.objects.aggregate(
        total=Count("id"),
        tracked=Count("id", filter=~Q(aftership_id="")),
        ignored=Count("id", filter=Q(status=ShipmentStatus.IGNORED)),
        review=Count("id", filter=Q(needs_review=True) & ~Q(status=ShipmentStatus.IGNORED)),
        review_untracked=Count("id", filter=Q(needs_review=True, aftership_id="") & ~Q(status=ShipmentStatus.IGNORED)),
        queued=Count("id", filter=Q(aftership_id="", needs_review=False) & ~Q(status=ShipmentStatus.IGNORED)),
        delivered=Count("id", filter=Q(status=ShipmentStatus.DONE)),
        exceptions=Count("id", filter=Q(status__in=[ShipmentStatus.EXCEPTION, ShipmentStatus.ATTEMPT_FAIL])),
        writebacks=Count("id", filter=Q(writeback_due_at__isnull=False)),
        writebacks_late=Count("id", filter=Q(writeback_due_at__lt=hour)),
    )
    parcels["missing"] = parcels["queued"] + parcels["review_untracked"]
    jobs = SyncJob.objects.aggregate(
        queued=Count("id", filter=Q(state__in=OPEN_JOB_STATES, attempts=0)),
        retrying=Count("id", filter=Q(state__in=OPEN_JOB_STATES, attempts__gt=0)),
        failed=Count("id", filter=Q(state=JobState.FAILED)),
        dead=Count("id", filter=Q(state=JobState.DEAD)),
        dead_today=Count("id", filter=Q(state=JobState.DEAD, finished_at__gte=day)),
    )
    events = TrackingEvent.objects.filter(received_at__gte=day, source=EventSource.WEBHOOK).aggregate(
        **{
            f"{name}_{span}": Count("id", filter=Q(received_at__gte=since) & condition)
            for span, since in (("hour", hour), ("day", day))
            for name, condition in (
                ("accepted", ~Q(state=EventState.REJECTED)),
                ("unreadable", Q(state=EventState.FAILED)),
                ("unmatched", Q(state=EventState.UNMATCHED)),
            )
        },
        last=Max("received_at"),
    )
    refused = SecurityEvent.objects.filter(minute__gte=day).aggregate(
        in_hour=Sum("count", filter=Q(minute__gte=hour)), in_day=Sum("count")
    )
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    calls = ApiUsage.objects.filter(service="aftership", hour__gte=min(day, midnight)).aggregate(
        in_hour=Sum("calls", filter=Q(hour__gte=now.replace(minute=0, second=0, microsecond=0))),
        today=Sum(
            "calls", filter=Q(hour__gte=timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0))
        ),
    )
    states = {state.service: state for state in ServiceState.objects.all()}
    cursor = SyncCursor.objects.filter(name=INCREMENTAL_CURSOR).first()
    summary = {
        "at": now,
        "paused": [  # plain values: the cache outlives a deploy
            {"service": state.get_service_display(), "since": state.paused_since, "reason": state.paused_reason}
            for state in states.values()
            if not state.credentials_ok
        ],
        "parcels": parcels,
        "jobs": jobs,
        "webhooks": {**events, "refused_hour": refused["in_hour"] or 0, "refused_day": refused["in_day"] or 0},
        "calls": {"hour": calls["in_hour"] or 0, "today": calls["today"] or 0, "quota": settings.AFTERSHIP_DAILY_QUOTA},
        "unmapped": CarrierMapping.objects.filter(slug="", enabled=True).count(),
        "last_pull": cursor.last_run_at if cursor else None,
        "last_odoo_write": states[ServiceState.ODOO].last_ok_at if ServiceState.ODOO in states else None,
        "chart": _chart(now, week),
    }
    summary["health"] = _health(summary, now)
    return summary


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def ago(moment) -> str:
    """ "just now", "3 minutes ago", "2 days ago", or "not yet"."""
    if moment is None:
        return "not yet"
    from django.utils.timesince import timesince

    text = timesince(moment)
    return "just now" if text.startswith("0\xa0minutes") else f"{text} ago"


def _health(summary: dict, now) -> dict:
    """Broken (the work cannot go on), needs attention (a person is waited for), or healthy; with why and where."""
    stale = now - timedelta(minutes=3 * settings.SYNC_PULL_INTERVAL_MINUTES + 5)
    broken, attention = [], []
    for state in summary["paused"]:
        broken.append(
            (
                f"{state['service']} refuses the portal's credentials: its calls are paused",
                reverse("admin:sync_servicestate_changelist"),
            )
        )
    if summary["last_pull"] is None or summary["last_pull"] < stale:
        broken.append(
            ("No pull from Odoo for a while: are the workers running?", reverse("admin:sync_synccursor_changelist"))
        )
    if summary["jobs"]["dead_today"]:
        broken.append(
            (
                f"{_n(summary['jobs']['dead_today'], 'job', 'jobs')} given up in the last day",
                reverse("admin:sync_syncjob_changelist") + "?state__exact=dead",
            )
        )
    parcels = summary["parcels"]
    if parcels["review"]:
        attention.append(
            (
                f"{_n(parcels['review'], 'parcel', 'parcels')} to review",
                reverse("admin:sync_shipment_changelist") + "?attention=review",
            )
        )
    if summary["unmapped"]:
        attention.append(
            (
                f"{_n(summary['unmapped'], 'carrier', 'carriers')} to map",
                reverse("admin:sync_carriermapping_changelist") + "?mapped=no",
            )
        )
    stuck = summary["jobs"]["failed"] + summary["jobs"]["dead"] - summary["jobs"]["dead_today"]  # not twice
    if stuck:
        attention.append(
            (f"{_n(stuck, 'job', 'jobs')} failed", reverse("admin:sync_syncjob_changelist") + "?state__in=failed,dead")
        )
    if parcels["writebacks_late"]:
        attention.append(
            (
                f"{_n(parcels['writebacks_late'], 'delivery waits', 'deliveries wait')} more than an hour for "
                "their news in Odoo",
                reverse("admin:sync_statuschange_changelist") + "?written=no",
            )
        )
    if broken:
        return {"level": "broken", "label": "Broken", "reasons": broken + attention}
    if attention:
        return {"level": "attention", "label": "Needs attention", "reasons": attention}
    return {"level": "healthy", "label": "Healthy", "reasons": []}


def _chart(now, since) -> dict:
    """Webhooks received, AfterShip calls and failed calls per hour over the last week."""
    start = since.replace(minute=0, second=0, microsecond=0)
    hours = [start + timedelta(hours=i) for i in range(CHART_HOURS + 1)]
    webhooks = dict(
        TrackingEvent.objects.filter(received_at__gte=start, source=EventSource.WEBHOOK)
        .annotate(at=TruncHour("received_at"))
        .values("at")
        .annotate(n=Count("id"))
        .values_list("at", "n")
    )
    usage = {
        row["hour"]: row
        for row in ApiUsage.objects.filter(hour__gte=start)
        .values("hour")
        .annotate(
            calls=Sum("calls", filter=Q(service="aftership")), errors=Sum("errors", filter=Q(service="aftership"))
        )
    }
    return {
        "hours": hours,
        "webhooks": [webhooks.get(h, 0) for h in hours],
        "calls": [(usage.get(h) or {}).get("calls") or 0 for h in hours],
        "failures": [(usage.get(h) or {}).get("errors") or 0 for h in hours],
    }


_SERIES = (("webhooks", "webhooks received", "#1565c0"), ("calls", "AfterShip calls", "#2e7d32"))
_FAILURES = ("failures", "failed AfterShip calls", "#c62828")


def chart_svg(chart: dict, *, width: int = 840, height: int = 120) -> str:
    """The week as an inline SVG (no script, no CDN): a line per series, failures as red bars."""
    count = len(chart["hours"])
    step = width / max(count - 1, 1)
    peak = max([1, *chart["webhooks"], *chart["calls"], *chart["failures"]])

    def y(value: int) -> float:
        return round(height - 4 - (height - 8) * value / peak, 1)

    lines = format_html_join(
        "",
        '<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"><title>{}</title></polyline>',
        (
            (colour, " ".join(f"{round(i * step, 1)},{y(v)}" for i, v in enumerate(chart[key])), label)
            for key, label, colour in _SERIES
        ),
    )
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
        (
            (round(i * step, 1), y(v), max(round(step, 1), 1), round(height - 4 - y(v), 1), _FAILURES[2], hour, v)
            for i, (hour, v) in enumerate(zip(chart["hours"], chart["failures"], strict=True))
            if v
        ),
    )
    days = format_html_join(
        "",
        '<line x1="{0}" x2="{0}" y1="0" y2="{1}" stroke="#ddd"/><text x="{2}" y="12" font-size="10" fill="#666">'
        "{3}</text>",
        (
            (round(i * step, 1), height, round(i * step + 3, 1), timezone.localtime(hour).strftime("%a %d"))
            for i, hour in enumerate(chart["hours"])
            if timezone.localtime(hour).hour == 0
        ),
    )
    legend = format_html_join(
        " ",
        '<span style="color:{}">■ {}</span>',
        ((colour, label) for _key, label, colour in (*_SERIES, _FAILURES)),
    )
    return format_html(
        '<svg role="img" aria-label="Webhooks, AfterShip calls and failures per hour over the last 7 days" '
        'viewBox="0 0 {w} {h}" width="100%" height="{h}" preserveAspectRatio="none" '
        'style="max-width:{w}px;background:#fafafa;border:1px solid #eee">{days}{bars}{lines}</svg>'
        '<div style="font-size:11px;color:#666">Per hour, last 7 days (peak {peak}): {legend}</div>',
        w=width,
        h=height,
        days=days,
        bars=bars,
        lines=lines,
        peak=peak,
        legend=legend,
    )

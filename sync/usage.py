"""API calls counted per hour and endpoint, for the dashboard and for watching the plan's quota.

Counts are gathered in memory and written every few seconds (and when a drain ends), so bookkeeping
adds no database write to each call on the hot path; a crash loses a few seconds of counts, no more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import ApiUsage

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0

_lock = threading.Lock()
_pending: Counter = Counter()
_last_flush = time.monotonic()


def usage_record(*, service: str, endpoint: str, ok: bool = True, rate_limited: bool = False) -> None:
    """Count one call."""
    global _last_flush
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    with _lock:
        _pending[(service, endpoint, hour, "calls")] += 1
        if not ok:
            _pending[(service, endpoint, hour, "errors")] += 1
        if rate_limited:
            _pending[(service, endpoint, hour, "rate_limited")] += 1
        due = time.monotonic() - _last_flush >= FLUSH_SECONDS
    if due:
        usage_flush()


def usage_flush() -> None:
    """Write the gathered counts; never lets bookkeeping break the work it counts."""
    global _last_flush
    with _lock:
        counts = dict(_pending)
        _pending.clear()
        _last_flush = time.monotonic()
    rows: dict[tuple, dict[str, int]] = {}
    for (service, endpoint, hour, column), value in counts.items():
        rows.setdefault((service, endpoint, hour), {})[column] = value
    for (service, endpoint, hour), columns in rows.items():
        key = {"service": service, "endpoint": endpoint, "hour": hour}
        increments = {column: F(column) + value for column, value in columns.items()}
        try:
            if ApiUsage.objects.filter(**key).update(**increments):
                continue
            try:
                with transaction.atomic():
                    ApiUsage.objects.create(**key, **columns)
            except IntegrityError:
                ApiUsage.objects.filter(**key).update(**increments)
        except Exception:
            logger.exception("could not write API usage counts", extra={"service": service, "endpoint": endpoint})

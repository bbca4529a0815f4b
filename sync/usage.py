"""API calls counted per hour and endpoint, for the dashboard and for staying inside the plan's quota."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import ApiUsage

logger = logging.getLogger(__name__)


def usage_record(*, service: str, endpoint: str, ok: bool = True, rate_limited: bool = False) -> None:
    """Count one call; never lets bookkeeping break the call it counts."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    increments = {
        "calls": F("calls") + 1,
        "errors": F("errors") + (0 if ok else 1),
        "rate_limited": F("rate_limited") + (1 if rate_limited else 0),
    }
    key = {"service": service, "endpoint": endpoint, "hour": hour}
    try:
        if ApiUsage.objects.filter(**key).update(**increments):
            return
        try:
            with transaction.atomic():
                ApiUsage.objects.create(**key, calls=1, errors=0 if ok else 1, rate_limited=1 if rate_limited else 0)
        except IntegrityError:
            ApiUsage.objects.filter(**key).update(**increments)
    except Exception:
        logger.exception("could not count an API call", extra={"service": service, "endpoint": endpoint})

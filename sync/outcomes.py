"""What a job's run comes to, and what the clients' errors mean for a job.

A handler returns an `Outcome`; an error it lets through is mapped here (`outcome_for_exception`). The
runner (`jobs`) turns the outcome into the job's next state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .aftership import AfterShipAuthError, AfterShipError, AfterShipRateLimited
from .health import service_pause
from .models import ServiceState
from .odoo import OdooAuthError, OdooError
from .ratelimit import QuotaExhausted, RateLimitBusy, WaitInterrupted

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a handler reports: done, retry (a failure; backoff), wait (no failure), or fail (needs a person)."""

    kind: str
    message: str = ""
    at: datetime | None = None
    healthy: bool = False  # a retry while the service otherwise answers: soon, not after a long backoff

    @classmethod
    def done(cls, message: str) -> Outcome:
        return cls("done", message)

    @classmethod
    def retry(cls, message: str, at: datetime | None = None, *, healthy: bool = False) -> Outcome:
        return cls("retry", message, at, healthy)

    @classmethod
    def wait(cls, message: str, at: datetime) -> Outcome:
        return cls("wait", message, at)

    @classmethod
    def fail(cls, message: str) -> Outcome:
        return cls("fail", message)


def outcome_for_exception(exc: Exception) -> Outcome:
    """Exceptions a handler did not turn into an outcome itself: what they mean for the job."""
    now = timezone.now()
    recheck = now + timedelta(minutes=settings.SYNC_AUTH_PAUSE_RECHECK_MINUTES)
    if isinstance(exc, AfterShipAuthError):
        service_pause(ServiceState.AFTERSHIP, str(exc))
        return Outcome.wait("Waiting: AfterShip refused the API key", recheck)
    if isinstance(exc, OdooAuthError):
        service_pause(ServiceState.ODOO, str(exc))
        return Outcome.wait("Waiting: Odoo refused the login", recheck)
    if isinstance(exc, AfterShipRateLimited):
        return Outcome.wait(
            "Waiting: AfterShip rate limit", now + timedelta(seconds=max(exc.reset_at - time.time(), 1))
        )
    if isinstance(exc, QuotaExhausted):
        return Outcome.wait(f"Waiting: {exc}", exc.resets_at)
    if isinstance(exc, RateLimitBusy):
        return Outcome.wait("Waiting for a free AfterShip call slot", now + timedelta(seconds=exc.retry_after))
    if isinstance(exc, WaitInterrupted):
        return Outcome.wait("Queued again: the worker stopped before the call went out", now)
    if isinstance(exc, AfterShipError | OdooError) and exc.retryable:
        return Outcome.retry(str(exc))
    if isinstance(exc, AfterShipError | OdooError):
        return Outcome.fail(str(exc))
    logger.exception("job failed with an unexpected error")
    return Outcome.retry(f"Unexpected error: {type(exc).__name__}: {exc}")

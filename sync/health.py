"""Whether the portal may call AfterShip and Odoo: bad credentials pause outbound work until fixed."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from .alerts import alert_admins
from .models import ServiceState
from .queue import jobs_release_after_outage

logger = logging.getLogger(__name__)


def service_state(service: str) -> ServiceState:
    state, _ = ServiceState.objects.get_or_create(service=service)
    return state


def service_paused(service: str) -> bool:
    return ServiceState.objects.filter(service=service, credentials_ok=False).exists()


def service_pause(service: str, reason: str) -> bool:
    """Stop calls to `service` after an authentication failure; alerts admins the first time. True if newly paused."""
    with transaction.atomic():
        state, _ = ServiceState.objects.select_for_update().get_or_create(service=service)
        newly = state.credentials_ok
        state.credentials_ok = False
        state.paused_reason = reason
        state.last_error = reason
        state.last_error_at = timezone.now()
        if newly:
            state.paused_since = timezone.now()
        state.save()
    if newly:
        name = state.get_service_display()
        alert_admins(
            f"{name} refused the portal's credentials: outbound sync paused",
            f"{name} answered: {reason}\n\n"
            "Nothing is lost: waiting work stays queued and resumes once the credentials work again. "
            "Fix the API key in the portal's environment, restart it, then use 'Test connections' "
            "on the admin's Connections page.",
            service=service,
        )
    return newly


def service_resume(service: str) -> bool:
    """The service accepted our credentials: calls may go out again. True if it was paused."""
    ServiceState.objects.update_or_create(service=service, defaults={"last_ok_at": timezone.now()})
    updated = ServiceState.objects.filter(service=service, credentials_ok=False).update(
        credentials_ok=True, paused_reason="", paused_since=None
    )
    if updated:
        logger.warning("outbound calls resumed", extra={"service": service})
        if service == ServiceState.AFTERSHIP:
            jobs_release_after_outage()
    return bool(updated)


def service_error(service: str, error: str) -> None:
    ServiceState.objects.update_or_create(
        service=service, defaults={"last_error": error[:2000], "last_error_at": timezone.now()}
    )

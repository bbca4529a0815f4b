"""django-q2 entry points. Thin: each calls one service; SyncJob rows carry the state."""

from __future__ import annotations

import logging

from django.conf import settings

from .clients import odoo_client
from .health import service_error, service_pause, service_paused
from .jobs import jobs_dispatch, jobs_drain
from .models import ServiceState
from .odoo import OdooAuthError, OdooError
from .pull import pull_catchup, pull_incremental

logger = logging.getLogger(__name__)


def drain_jobs() -> dict:
    stats = jobs_drain(threads=settings.SYNC_DRAIN_THREADS)
    return {"ran": stats.ran, **stats.outcomes}


def dispatch_jobs() -> int:
    from .connection import aftership_probe_if_paused
    from .inbound import events_process

    aftership_probe_if_paused()
    events_process()
    return jobs_dispatch()


def _pull(kind: str, puller) -> dict:
    if service_paused(ServiceState.ODOO):
        from .connection import odoo_probe

        if not odoo_probe().ok:
            logger.warning("Odoo pull skipped: Odoo login still refused")
            return {"skipped": "odoo credentials refused"}
    try:
        with odoo_client() as client:
            stats = puller(client)
    except OdooAuthError as exc:
        service_pause(ServiceState.ODOO, str(exc))
        raise
    except OdooError as exc:
        service_error(ServiceState.ODOO, str(exc))
        logger.warning("Odoo pull failed; the next run starts again from the cursor", extra={"error": str(exc)})
        raise
    logger.info(f"{kind} finished", extra=stats.as_dict())
    return stats.as_dict()


def pull_deliveries() -> dict:
    return _pull("pull", pull_incremental)


def catchup_deliveries() -> dict:
    return _pull("catch-up", pull_catchup)


def process_events() -> int:
    from .inbound import events_process

    return events_process()

"""django-q2 entry points. Thin: each calls one service; SyncJob rows carry the state."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings

from .clients import odoo_client
from .health import service_error, service_pause, service_paused
from .jobs import WORKER_ID, jobs_dispatch, jobs_drain, jobs_due
from .models import ServiceState
from .odoo import OdooAuthError, OdooError
from .pull import pull_catchup, pull_incremental
from .queue import (
    doorbell_ring,
    drain_slot_release,
    drain_slot_take,
    jobs_doorbell_answered,
    jobs_ring,
)
from .worker_stop import stopping
from .writeback import writebacks_release

logger = logging.getLogger(__name__)


def drain_jobs() -> dict:
    jobs_doorbell_answered()  # jobs queued from now on may ring another drain
    owner = f"{WORKER_ID}/{uuid.uuid4().hex[:8]}"
    slot = drain_slot_take(owner=owner)
    if slot is None:
        return {"ran": 0, "skipped": f"{settings.SYNC_DRAIN_PARALLELISM} drains are running already"}
    try:
        stats = jobs_drain(threads=settings.SYNC_DRAIN_THREADS, stop=stopping, linger=True)
    finally:
        drain_slot_release(slot=slot, owner=owner)
    if stopping.is_set():
        logger.info("drain ended early: the worker is stopping; the jobs it did not reach stay queued")
    elif stats.out_of_time or jobs_due():
        # Its successor goes on at once (out of time with work left, or jobs queued while this drain held
        # its slot and so rang no one), rather than at the dispatcher's next round.
        jobs_ring()
    return {"ran": stats.ran, **stats.outcomes}


def dispatch_jobs() -> int:
    """Every minute: the safety net for lost doorbells, unmatched events and write-backs left without a job."""
    from .alerts import alerts_send
    from .connection import aftership_probe_if_paused
    from .inbound import events_process, events_rematch, events_ring
    from .resync import resyncs_ring_stale
    from .writeback import writebacks_ensure

    aftership_probe_if_paused()
    events_rematch()
    if events_process().more:
        events_ring()
    writebacks_ensure()
    resyncs_ring_stale()
    try:
        alerts_send()
    except Exception:  # mail trouble never stops the dispatcher
        logger.exception("could not send the alert digests")
    return jobs_dispatch()


def run_resync(resync_id: int) -> dict:
    """A resync asked from the admin (its doorbell)."""
    from .resync import resync_run

    resync = resync_run(resync_id=resync_id)
    return {"resync": resync_id, "state": resync.state if resync else "taken by another worker"}


def _pull(kind: str, puller) -> dict:
    if service_paused(ServiceState.ODOO):
        from .connection import odoo_probe

        if not odoo_probe().ok:
            logger.warning("Odoo pull skipped: Odoo login still refused")
            return {"skipped": "odoo credentials refused"}
    try:
        with odoo_client() as client:
            stats = puller(client, stop=stopping)  # a stopping worker ends the pull after its page
        writebacks_release()  # Odoo answers: write-backs waiting out a backoff need not wait longer
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
    result = _pull("pull", pull_incremental)
    if result.get("complete") is False and not stopping.is_set():  # out of time, more to read: next run at once
        doorbell_ring(task="sync.tasks.pull_deliveries", name="pull-deliveries")
    return result


def catchup_deliveries() -> dict:
    from .carriers import carrier_slugs_verify

    result = _pull("catch-up", pull_catchup)
    try:
        carrier_slugs_verify()  # hourly: a slug saved while AfterShip's list could not be had is checked now
    except Exception:
        logger.exception("could not check the carrier mappings' couriers")
    return result


def process_events() -> dict:
    from .inbound import events_doorbell_answered, events_process, events_ring

    events_doorbell_answered()  # news committed from now on rings again
    stats = events_process()
    if stats.more:
        events_ring()  # the rest in another round, on whichever worker is free
    return {"applied": stats.applied, "duplicates": stats.duplicates, "failed": stats.failed, "more": stats.more}


def reconcile_trackings() -> dict:
    from .clients import aftership_client
    from .inbound import events_process
    from .reconcile import trackings_reconcile

    if service_paused(ServiceState.AFTERSHIP):
        return {"skipped": "aftership credentials refused"}
    client = aftership_client()
    try:
        stats = trackings_reconcile(client=client)
    finally:
        client.close()
    events_process()
    return stats.as_dict()


def purge_old_records() -> dict:
    from .retention import records_purge

    cutoff, counts = records_purge()
    return {"before": cutoff.isoformat(), **counts}

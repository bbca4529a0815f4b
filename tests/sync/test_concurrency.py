"""Several workers on one backlog: every job runs once, every tracking is created once."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from sync.jobs import jobs_claim, jobs_drain
from sync.models import JobKind, JobState, Shipment, SyncJob
from sync.pull import deliveries_intake
from sync.ratelimit import DatabaseBackend, RateLimiter
from tests.factories import delivery


def backlog(count: int) -> None:
    # DHL numbers are 10 digits; one delivery per parcel.
    deliveries_intake([delivery(1000 + i, f"{4815160000 + i}") for i in range(count)])


@pytest.mark.postgres
def test_concurrent_claims_never_hand_out_the_same_job(transactional_db):
    backlog(120)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        try:
            while batch := jobs_claim(kinds=[JobKind.CREATE_TRACKING], limit=3, worker=name):
                with lock:
                    claimed.extend(job.id for job in batch)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(claimed) == 120
    assert len(set(claimed)) == 120
    assert SyncJob.objects.filter(state=JobState.RUNNING, attempts=1).count() == 120
    assert SyncJob.objects.values("worker").distinct().count() > 1  # the work was really shared


@pytest.mark.postgres
def test_several_workers_drain_one_backlog_without_creating_a_tracking_twice(
    transactional_db, aftership, aftership_client_factory, carrier_mappings
):
    backlog(100)

    def client():
        # The production limits and limiter, shared by every worker through the database.
        return aftership_client_factory(limiter=RateLimiter(DatabaseBackend(), rates=settings.AFTERSHIP_RATE_LIMITS))

    def worker(name: str) -> None:
        try:
            jobs_drain(aftership_factory=client, odoo_factory=lambda: None, threads=3, worker=name)
        finally:
            connection.close()

    workers = [threading.Thread(target=worker, args=(f"machine-{i}",)) for i in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()

    posts = aftership.requests_to("/tracking/2026-07/trackings", "POST")
    assert len(posts) == 100
    assert {r.status for r in posts} == {201}  # no 4003 (nothing sent twice), no 429 (limiter shared)
    assert len(aftership.trackings) == 100
    assert Shipment.objects.exclude(aftership_id="").count() == 100
    assert set(SyncJob.objects.values_list("state", "attempts").distinct()) == {(JobState.DONE, 1)}
    machines = {worker.split("/")[0] for worker in SyncJob.objects.values_list("worker", flat=True)}
    assert machines == {f"machine-{i}" for i in range(4)}  # every worker took part (each thread its own owner)

"""Creating trackings: against the AfterShip simulator over HTTP, through the job machinery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from sync.alerts import alerts_send
from sync.jobs import jobs_dispatch, jobs_drain
from sync.models import CarrierMapping, JobAttempt, JobState, ServiceState, Shipment, ShipmentStatus, SyncJob
from sync.pull import deliveries_intake
from tests.factories import delivery

pytestmark = pytest.mark.django_db


def drain(factory, **kwargs):
    kwargs.setdefault("budget_seconds", 30)
    return jobs_drain(aftership_factory=factory, odoo_factory=lambda: None, **kwargs)


def make_due():
    SyncJob.objects.filter(state=JobState.PENDING).update(next_attempt_at=timezone.now())


def test_it_creates_the_tracking_with_the_mapped_courier(aftership, aftership_client_factory, carrier_mappings):
    deliveries_intake([delivery(20, "4815162342", carrier_id=4)])

    stats = drain(aftership_client_factory)

    shipment = Shipment.objects.get()
    tracking = aftership.find("dhl", "4815162342")
    assert tracking is not None
    assert shipment.aftership_id == tracking["id"]
    assert shipment.slug == "dhl"
    assert shipment.status == ShipmentStatus.PENDING
    assert tracking["title"] == "S00120"
    assert tracking["order_number"] == "S00120"
    assert tracking["destination_country_region"] == "DEU"
    job = SyncJob.objects.get()
    assert job.state == JobState.DONE and job.attempts == 1
    assert JobAttempt.objects.get(job=job).outcome == "done"
    assert stats.outcomes == {"done": 1}


def test_each_parcel_of_a_multi_parcel_delivery_gets_its_own_tracking(
    aftership, aftership_client_factory, carrier_mappings
):
    deliveries_intake([delivery(22, "1Z999AA10123456784,1Z999AA10123456785", carrier_id=6)])

    drain(aftership_client_factory)

    assert aftership.find("ups", "1Z999AA10123456784") is not None
    assert aftership.find("ups", "1Z999AA10123456785") is not None
    assert Shipment.objects.filter(picking_id=22).exclude(aftership_id="").count() == 2


def test_taking_a_delivery_in_twice_never_queues_a_second_tracking(
    aftership, aftership_client_factory, carrier_mappings
):
    deliveries_intake([delivery(20, "4815162342")])
    deliveries_intake([delivery(20, "4815162342")])  # a re-pull while the job is still waiting
    assert SyncJob.objects.count() == 1
    drain(aftership_client_factory)
    deliveries_intake([delivery(20, "4815162342")])  # and after it is done
    assert SyncJob.objects.count() == 1
    assert len(aftership.requests_to("/tracking/2026-07/trackings", "POST")) == 1


@pytest.mark.parametrize("duplicate_status", [400, 409])
def test_it_links_the_existing_tracking_when_aftership_already_has_it(
    duplicate_status, aftership, aftership_client_factory, carrier_mappings
):
    aftership.duplicate_status = duplicate_status
    existing = aftership.create_tracking({"tracking_number": "4815162342", "slug": "dhl"})
    deliveries_intake([delivery(20, "4815162342")])

    drain(aftership_client_factory)

    shipment = Shipment.objects.get()
    assert shipment.aftership_id == existing["id"]
    assert SyncJob.objects.get().last_outcome == "Linked to the existing tracking (dhl)"
    assert len(aftership.trackings) == 1


def test_a_create_that_succeeded_unheard_is_linked_on_retry(aftership, aftership_client_factory, carrier_mappings):
    aftership.fail_after_commit_rate = 1.0  # AfterShip stores the tracking, then answers 500
    deliveries_intake([delivery(20, "4815162342")])

    drain(aftership_client_factory)
    job = SyncJob.objects.get()
    assert job.state == JobState.PENDING and job.attempts == 1 and "500" in job.last_error

    aftership.fail_after_commit_rate = 0.0
    make_due()
    drain(aftership_client_factory)

    assert Shipment.objects.get().aftership_id == aftership.find("dhl", "4815162342")["id"]
    assert len(aftership.trackings) == 1


def test_an_invalid_tracking_number_is_flagged_with_aftershipss_reason(
    aftership, aftership_client_factory, carrier_mappings, settings
):
    settings.SYNC_LOGISTICS_EMAILS = ["warehouse@example.com"]
    deliveries_intake([delivery(31, "N/A", carrier_id=4), delivery(32, "4815162343", carrier_id=4)])

    drain(aftership_client_factory)

    flagged = Shipment.objects.get(tracking_number="N/A")
    assert flagged.needs_review
    assert flagged.review_reason.startswith("AfterShip rejected tracking number N/A:")
    assert SyncJob.objects.get(shipment=flagged).state == JobState.FAILED
    assert Shipment.objects.get(tracking_number="4815162343").is_tracked  # the others go on
    assert mail.outbox == []  # never from a drain thread: the scheduler sends the digest
    alerts_send()
    assert [m.to for m in mail.outbox] == [["warehouse@example.com"]]
    assert "WH/OUT/00031" in mail.outbox[0].subject


def test_an_unmapped_carrier_falls_back_to_courier_detection(aftership, aftership_client_factory, db):
    deliveries_intake([delivery(40, "1Z12345E0205271688", carrier_id=9)])
    mapping = CarrierMapping.objects.get(odoo_carrier_id=9)
    assert mapping.slug == "" and mapping.odoo_carrier_name == "Coursier Express Lyon"

    drain(aftership_client_factory)

    shipment = Shipment.objects.get()
    assert shipment.is_tracked and shipment.slug == "ups"
    assert shipment.suggested_slug == "ups"
    mapping.refresh_from_db()
    assert mapping.suggested_slug == "ups"
    assert mapping.slug == ""  # a suggestion, not a decision: the logistics manager maps it


def test_an_unknown_carrier_with_an_unrecognisable_number_is_flagged(aftership, aftership_client_factory, db):
    deliveries_intake([delivery(41, "LYON-000042", carrier_id=9)])

    drain(aftership_client_factory)

    shipment = Shipment.objects.get()
    assert shipment.needs_review
    assert "Coursier Express Lyon with no AfterShip courier" in shipment.review_reason
    assert SyncJob.objects.get().state == JobState.FAILED


def test_a_slug_aftership_does_not_know_falls_back_to_detection(aftership, aftership_client_factory, carrier_mappings):
    CarrierMapping.objects.filter(odoo_carrier_id=4).update(slug="dhl-express-typo")
    deliveries_intake([delivery(20, "4815162342", carrier_id=4)])

    drain(aftership_client_factory)

    shipment = Shipment.objects.get()
    assert shipment.is_tracked
    assert shipment.slug == shipment.suggested_slug != "dhl-express-typo"


def test_a_disabled_carrier_is_not_tracked_but_visible(aftership, aftership_client_factory, carrier_mappings):
    CarrierMapping.objects.filter(odoo_carrier_id=7).update(enabled=False)
    deliveries_intake([delivery(23, "6A18923456789", carrier_id=7)])

    assert SyncJob.objects.count() == 0
    shipment = Shipment.objects.get()
    assert shipment.status == ShipmentStatus.IGNORED
    assert "set not to be tracked" in shipment.review_reason


def test_an_outage_is_retried_with_backoff_then_succeeds(aftership, aftership_client_factory, carrier_mappings):
    aftership.faults.outage = True
    deliveries_intake([delivery(20, "4815162342")])

    drain(aftership_client_factory)
    job = SyncJob.objects.get()
    assert job.state == JobState.PENDING
    assert job.attempts == 1
    assert "503" in job.last_error
    # Nothing says AfterShip is down yet (one failure, the circuit closed): retried soon, 1-2 s later.
    failed_at = job.attempt_log.get().started_at
    assert timedelta(seconds=1) <= job.next_attempt_at - failed_at <= timedelta(seconds=3)

    for _ in range(2):  # failing again and again: the circuit opens, and the job backs off, doubling from 30 s
        make_due()
        drain(aftership_client_factory)
    job.refresh_from_db()
    failed_at = job.attempt_log.order_by("-started_at").first().started_at
    assert job.attempts == 3
    assert timedelta(seconds=59) <= job.next_attempt_at - failed_at <= timedelta(seconds=121)  # 30 s x 2^2

    aftership.faults.outage = False
    make_due()
    drain(aftership_client_factory)
    job.refresh_from_db()
    assert job.state == JobState.DONE and job.attempts == 4
    assert list(job.attempt_log.values_list("outcome", flat=True)) == ["done", "retry", "retry", "retry"]


def test_a_job_that_keeps_failing_past_its_expiry_is_given_up_with_an_alert(
    aftership, aftership_client_factory, carrier_mappings, settings
):
    settings.SYNC_ALERT_EMAILS = ["ops@example.com"]
    aftership.faults.outage = True
    deliveries_intake([delivery(20, "4815162342")])
    SyncJob.objects.update(expires_at=timezone.now() + timedelta(milliseconds=500))  # before even a quick retry

    drain(aftership_client_factory)

    job = SyncJob.objects.get()
    assert job.state == JobState.DEAD
    assert job.last_outcome == "Gave up after 1 attempts"
    assert "503" in job.last_error
    alerts_send()
    assert mail.outbox and mail.outbox[0].to == ["ops@example.com"]
    assert "Gave up on create the aftership tracking for WH/OUT/00020" in mail.outbox[0].subject


def test_a_refused_api_key_pauses_outbound_calls_without_burning_attempts(
    aftership, aftership_client_factory, carrier_mappings, settings
):
    settings.SYNC_ALERT_EMAILS = ["ops@example.com"]
    deliveries_intake([delivery(20, "4815162342"), delivery(21, "794612345678", carrier_id=5)])

    # One thread, so the first 401 pauses outbound calls before the second job is claimed.
    drain(lambda: aftership_client_factory(api_key="revoked-key"), threads=1)

    state = ServiceState.objects.get(service="aftership")
    assert not state.credentials_ok and "API Key is invalid" in state.paused_reason
    jobs = SyncJob.objects.order_by("id")
    assert [j.state for j in jobs] == [JobState.PENDING, JobState.PENDING]
    assert [j.attempts for j in jobs] == [0, 0]
    assert [r.status for r in aftership.requests_to("/tracking/2026-07")] == [401]  # stopped after the first 401
    alerts_send()
    assert len(mail.outbox) == 1 and "paused" in mail.outbox[0].subject

    # While paused, nothing is claimed even when due; the dispatcher does not ring for it either.
    make_due()
    assert drain(aftership_client_factory).ran == 0
    assert jobs_dispatch() == 0


def test_outbound_resumes_when_the_key_works_again(aftership, aftership_client_factory, carrier_mappings, settings):
    from sync.connection import aftership_probe
    from sync.health import service_pause

    service_pause(ServiceState.AFTERSHIP, "The API Key is invalid.")
    deliveries_intake([delivery(20, "4815162342")])

    result = aftership_probe()  # settings point at the simulator with a valid key

    assert result.ok, result.message
    assert ServiceState.objects.get(service="aftership").credentials_ok
    drain(aftership_client_factory)
    assert Shipment.objects.get().is_tracked


def test_an_outage_costs_a_few_probing_calls_not_the_whole_backlog(
    aftership, aftership_client_factory, carrier_mappings
):
    aftership.faults.outage = True
    deliveries_intake([delivery(600 + i, f"{4815180000 + i}") for i in range(30)])

    drain(aftership_client_factory, threads=1, budget_seconds=4)

    attempted = SyncJob.objects.filter(attempts__gt=0).count()
    assert 3 <= attempted <= 8  # the circuit opened after a few failures in a row
    assert SyncJob.objects.filter(attempts=0, state=JobState.PENDING).count() == 30 - attempted
    assert len(aftership.requests_to("/tracking/2026-07")) == attempted


def test_when_aftership_answers_again_the_jobs_in_backoff_go_at_once(
    aftership, aftership_client_factory, carrier_mappings
):
    from sync.queue import jobs_release_after_outage
    from sync.ratelimit import DatabaseBackend, RateLimiter

    def client():  # the circuit's probes a second apart at most, not five: the test waits less for them
        limiter = RateLimiter(
            DatabaseBackend(),
            rates={"default": 1000},
            headroom=1.0,
            namespace=f"test-{id(aftership)}",
            on_recovery=jobs_release_after_outage,
            breaker_max_hold=1.0,
        )
        return aftership_client_factory(limiter=limiter)

    aftership.faults.outage = True
    deliveries_intake([delivery(700 + i, f"{4815190000 + i}") for i in range(10)])
    drain(client, threads=1, budget_seconds=2)
    assert SyncJob.objects.filter(attempts__gt=0, next_attempt_at__gt=timezone.now()).exists()  # in backoff

    aftership.faults.outage = False
    drain(client, threads=1, budget_seconds=15)

    assert set(SyncJob.objects.values_list("state", flat=True)) == {JobState.DONE}
    assert len(aftership.trackings) == 10


def test_the_customers_contact_leaves_the_job_once_the_tracking_exists(
    aftership, aftership_client_factory, carrier_mappings, admin_client, client
):
    from django.contrib.auth.models import Group, User
    from django.urls import reverse

    CarrierMapping.objects.filter(odoo_carrier_id=4).update(send_customer_email=True, send_customer_phone=True)
    deliveries_intake([delivery(40, "4815162399")])
    job = SyncJob.objects.get()
    assert job.payload["body"]["customers"][0]["email"] == "versand@mueller-logistik.example.de"  # until it is sent

    drain(aftership_client_factory)

    job.refresh_from_db()
    assert job.state == JobState.DONE
    assert job.payload["body"]["customers"] == [{"role": "buyer", "name": "Müller Logistik GmbH", "language": "de"}]
    sent = aftership.find("dhl", "4815162399")["customers"][0]
    assert (sent["email"], sent["phone_number"]) == ("versand@mueller-logistik.example.de", "+49 30 1234567")

    manager = User.objects.create_user("lena", "lena@example.com", "pw", is_staff=True)
    manager.groups.add(Group.objects.get(name="Logistics managers"))
    client.force_login(manager)
    page = client.get(reverse("admin:sync_syncjob_change", args=[job.pk])).content.decode()
    assert "Request body" not in page and "Müller Logistik GmbH" not in page
    assert "Request body" in admin_client.get(reverse("admin:sync_syncjob_change", args=[job.pk])).content.decode()


@pytest.mark.parametrize(
    ("attempts", "healthy", "seconds"),
    [
        (1, True, 2),  # a stray failure while AfterShip answers: soon
        (2, True, 4),
        (3, True, 8),
        (4, True, 30),  # the same job failing again and again: back off
        (5, True, 60),
        (1, False, 30),  # the circuit is open: back off at once, doubling
        (2, False, 60),
        (5, False, 480),
        (20, False, 3600),  # capped
    ],
)
def test_the_delay_before_a_retry(attempts, healthy, seconds, settings):
    from sync.jobs import backoff_delay

    settings.SYNC_RETRY_SOON_SECONDS, settings.SYNC_RETRY_SOON_ATTEMPTS = 2, 3
    settings.SYNC_BACKOFF_BASE_SECONDS, settings.SYNC_BACKOFF_MAX_SECONDS = 30, 3600

    class Edges:  # the jitter's two ends
        def __init__(self, end):
            self.end = end

        def uniform(self, low, high):
            return high if self.end else low

    assert backoff_delay(attempts, healthy=healthy, rng=Edges(False)) == seconds / 2
    assert backoff_delay(attempts, healthy=healthy, rng=Edges(True)) == seconds


def test_a_drain_that_runs_each_job_once_claims_without_a_growing_list(
    aftership, aftership_client_factory, carrier_mappings, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    aftership.faults.outage = True  # every call fails: each job is retried soon, i.e. due again within seconds
    settings.SYNC_RETRY_SOON_SECONDS = 0.01  # due again at once: only the drain's own rule keeps it from rerunning
    deliveries_intake([delivery(20 + i, f"48151623{i:02d}") for i in range(6)])

    from sync.ratelimit import DatabaseBackend, RateLimiter

    def clients():  # a breaker that never opens here: every job gets its one call
        limiter = RateLimiter(DatabaseBackend(), rates={"default": 1000}, headroom=1.0, breaker_threshold=100)
        return aftership_client_factory(limiter=limiter)

    with CaptureQueriesContext(connection) as queries:
        stats = drain(clients, once=True, threads=1)

    assert stats.ran == 6 and set(SyncJob.objects.values_list("attempts", flat=True)) == {1}
    claims = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "sync_syncjob"."id"') and "'create_tracking'" in q["sql"]
    ]
    assert len(claims) >= 6 and not any("NOT" in sql for sql in claims)  # no list of the jobs already run
    assert len({len(sql) for sql in claims}) == 1  # the same statement each time, whatever ran before


def test_a_parcel_in_review_whose_carrier_is_switched_off_leaves_the_review_list(
    aftership, aftership_client_factory, db
):
    deliveries_intake([delivery(41, "LYON-000042", carrier_id=9)])
    drain(aftership_client_factory)
    assert Shipment.objects.get().needs_review  # AfterShip could not place it

    CarrierMapping.objects.filter(odoo_carrier_id=9).update(enabled=False)  # "we do not track this one"
    deliveries_intake([delivery(41, "LYON-000042", carrier_id=9)])

    shipment = Shipment.objects.get()
    assert (shipment.status, shipment.needs_review) == (ShipmentStatus.IGNORED, False)


def test_a_tracking_job_costs_at_most_eight_queries(aftership, aftership_client_factory, carrier_mappings):
    """Counted on the database the jobs live in; the rate limiter and the cache are Redis in production."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sync.ratelimit import DatabaseBackend, RateLimiter

    deliveries_intake([delivery(20 + i, f"48151623{i:02d}", carrier_id=4) for i in range(10)])

    def clients():
        limiter = RateLimiter(DatabaseBackend(), rates={"default": 1000}, headroom=1.0, breaker_threshold=100)
        return aftership_client_factory(limiter=limiter)

    with CaptureQueriesContext(connection) as queries:
        stats = drain(clients, once=True)

    job_queries = [
        q["sql"]
        for q in queries.captured_queries
        if not any(table in q["sql"] for table in ("sync_ratelimitslot", "portal_cache", "SAVEPOINT"))
    ]
    assert stats.outcomes == {"done": 10}
    assert len(job_queries) / stats.ran <= 8, "\n".join(job_queries)


def test_a_backlog_queued_page_by_page_keeps_at_most_the_parallel_drains_waiting(db, settings, monkeypatch):
    import django_q.tasks

    from sync.queue import jobs_doorbell_answered, jobs_ring

    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: rung.append(func))
    settings.SYNC_DRAIN_PARALLELISM = 2

    for _ in range(50):  # fifty pages of deliveries, each queueing its trackings
        jobs_ring(count=200)
    assert rung.count("sync.tasks.drain_jobs") == 2  # not a hundred drains ahead of the next pull

    jobs_doorbell_answered()  # a drain starts: the jobs queued from now on may ring one more
    jobs_ring(count=200)
    assert rung.count("sync.tasks.drain_jobs") == 3


def test_a_drain_stopped_by_its_budget_with_work_left_rings_its_successor(
    aftership, carrier_mappings, settings, monkeypatch
):
    import django_q.tasks

    from sync import tasks

    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: rung.append(func))
    settings.SYNC_DRAIN_THREADS = 1
    settings.SYNC_DRAIN_PARALLELISM = 1  # the ending drain gives its slot back before it rings
    deliveries_intake([delivery(800 + i, f"{4815180000 + i}") for i in range(30)])

    settings.SYNC_DRAIN_BUDGET_SECONDS = 0.2  # out of time long before 30 trackings at 20 a second
    tasks.drain_jobs()
    assert SyncJob.objects.filter(state=JobState.PENDING).exists()
    assert rung == ["sync.tasks.drain_jobs"]  # not left for the dispatcher's next round

    settings.SYNC_DRAIN_BUDGET_SECONDS = 30
    tasks.drain_jobs()
    assert set(SyncJob.objects.values_list("state", flat=True)) == {JobState.DONE}
    assert rung == ["sync.tasks.drain_jobs"]  # a drain that ran out of work rings nobody


def test_at_most_the_parallel_drains_run_at_once_across_workers(aftership, carrier_mappings, settings, monkeypatch):
    import django_q.tasks

    from sync import tasks
    from sync.queue import drain_slot_release, drain_slot_take, jobs_ring

    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: rung.append(func))
    settings.SYNC_DRAIN_PARALLELISM = 2
    settings.SYNC_DRAIN_THREADS = 1
    deliveries_intake([delivery(900 + i, f"{4815170000 + i}") for i in range(3)])
    assert drain_slot_take(owner="machine-a") == 0
    assert drain_slot_take(owner="machine-b") == 1  # two drains running elsewhere

    jobs_ring(count=3)
    assert rung == []  # no third drain queued behind them
    assert tasks.drain_jobs()["ran"] == 0  # nor run by a doorbell rung before
    assert not SyncJob.objects.filter(state=JobState.DONE).exists()

    drain_slot_release(slot=0, owner="machine-b")  # not its slot: nothing happens
    jobs_ring(count=3)
    assert rung == []
    drain_slot_release(slot=0, owner="machine-a")  # one ends
    jobs_ring(count=3)
    assert rung == ["sync.tasks.drain_jobs"]
    assert tasks.drain_jobs()["ran"] == 3


def test_a_count_of_waiting_drains_that_drifted_does_not_keep_the_backlog_unrung(db, settings, monkeypatch):
    import django_q.tasks

    from portal.cache import cache_count
    from sync.queue import DRAIN_RINGS_KEY

    rung = []
    monkeypatch.setattr(django_q.tasks, "async_task", lambda func, *args, **kwargs: rung.append(func))
    settings.SYNC_DRAIN_PARALLELISM = 2
    deliveries_intake([delivery(950, "4815169950")])
    cache_count(DRAIN_RINGS_KEY, timeout=120, by=5)  # drains counted as waiting that never started

    jobs_dispatch()

    assert rung == ["sync.tasks.drain_jobs"]  # one due job: one drain


@pytest.mark.parametrize("linger", [False, True])
def test_a_drain_of_the_queue_waits_for_a_stray_failure_retried_in_seconds(
    linger, aftership, aftership_client_factory, carrier_mappings, settings
):
    import time

    settings.SYNC_RETRY_SOON_SECONDS = 0.5
    deliveries_intake([delivery(960, "4815169960")])
    aftership.faults.outage_until = time.time() + 0.2  # the first call fails, AfterShip otherwise fine

    stats = drain(aftership_client_factory, threads=1, budget_seconds=20, linger=linger)

    if linger:  # retried within the same drain, not at the dispatcher's next round
        assert stats.outcomes == {"retry": 1, "done": 1}
        assert SyncJob.objects.get().state == JobState.DONE
    else:  # a drain run by hand ends when nothing is due
        assert stats.outcomes == {"retry": 1}
        assert SyncJob.objects.get().state == JobState.PENDING

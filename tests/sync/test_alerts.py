"""Alerts: recorded where trouble happens, mailed by the scheduler as one digest per subject and period."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from sync.alerts import alert_admins, alerts_send
from sync.models import Alert, AlertState

pytestmark = pytest.mark.django_db


def test_an_outage_that_gives_up_on_a_thousand_jobs_sends_one_mail(settings):
    settings.SYNC_ALERT_EMAILS = ["ops@example.com"]
    for i in range(1000):
        alert_admins(f"Gave up on job {i}", f"Last error: 503 ({i})", topic="Sync jobs given up")
    alert_admins("AfterShip refused the portal's credentials", "401")

    assert mail.outbox == []  # nothing is mailed where the trouble happens
    assert alerts_send() == 2

    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects[0] == "[Shiptrack] AfterShip refused the portal's credentials"  # alone: its own words
    assert subjects[1].startswith("[Shiptrack] Sync jobs given up: 1000 times since ")
    assert "Gave up on job 999" in next(m.body for m in mail.outbox if "1000 times" in m.subject)


def test_at_most_one_mail_per_subject_and_period(settings):
    settings.SYNC_ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_DIGEST_MINUTES = 60
    alert_admins("Gave up on job 1", "503", topic="Sync jobs given up")
    assert alerts_send() == 1

    alert_admins("Gave up on job 2", "503", topic="Sync jobs given up")
    alert_admins("Gave up on job 3", "503", topic="Sync jobs given up")
    assert alerts_send() == 0  # within the hour: waits for the next digest
    assert alerts_send(now=timezone.now() + timedelta(minutes=61)) == 1

    assert len(mail.outbox) == 2
    assert "2 times" in mail.outbox[1].subject
    assert [a.state for a in Alert.objects.order_by("id")] == [AlertState.SENT, AlertState.SENT]


def test_threads_recording_the_same_alert_share_one_digest(settings, transactional_db):
    settings.SYNC_ALERT_EMAILS = ["ops@example.com"]

    def record():
        for _ in range(10):
            alert_admins("Odoo refuses the portal's write-back", "AccessError")
        connection.close()

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    waiting = Alert.objects.get(state=AlertState.WAITING)  # the unique constraint: one waiting digest
    assert waiting.count == 40


def test_the_admin_lists_alerts_with_their_state(admin_client):
    from django.urls import reverse

    alert_admins("Gave up on job 1", "503", topic="Sync jobs given up")

    page = admin_client.get(reverse("admin:sync_alert_changelist"))

    assert page.status_code == 200
    assert "Sync jobs given up" in page.content.decode() and "Waiting for the next digest" in page.content.decode()

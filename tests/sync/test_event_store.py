"""Webhook events stored by several threads at once go in one INSERT, each row with its own event."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import DatabaseError, connection

from sync import event_store
from sync.inbound import event_build, event_insert
from sync.models import EventState, TrackingEvent
from tests.factories import journey_payload


def _event(number: int) -> TrackingEvent:
    payload = journey_payload("01_in_transit")
    payload["event_id"] = f"evt-{number}"
    payload["msg"]["tracking_number"] = f"48151623{number:02d}"
    body = json.dumps(payload).encode()
    return event_build(body=body, headers={}, remote_addr="192.0.2.1", signature="valid")


def _store_at_once(stored, monkeypatch, *, fail_group: bool = False):
    """Store `stored` from one thread each; the first INSERT waits until all the others are queued, so
    what is grouped is decided, not left to the scheduler."""
    statements = []
    original = event_store.events_insert

    def insert(*, events):
        group = events
        statements.append(len(group))
        if len(statements) == 1:
            while len(event_store._group._queue) < len(stored) - 1:
                threading.Event().wait(0.005)
        elif fail_group and len(group) > 1:
            raise DatabaseError("value too long for type character varying(64)")
        original(events=group)

    monkeypatch.setattr(event_store, "events_insert", insert)
    errors = []

    def store(event):
        try:
            event_insert(event=event)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=store, args=(event,)) for event in stored]
    for thread in threads:
        thread.start()
        if thread is threads[0]:
            while not statements:  # the first leads
                threading.Event().wait(0.005)
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    return statements


@pytest.mark.django_db(transaction=True)
def test_events_stored_at_the_same_moment_share_one_insert(monkeypatch):
    events = [_event(n) for n in range(8)]

    statements = _store_at_once(events, monkeypatch)

    assert statements == [1, 7]  # the first alone (nothing waited), then the seven that came meanwhile
    for event in events:  # each row is its own event, whatever its place in the INSERT
        stored = TrackingEvent.objects.get(pk=event.pk)
        assert (stored.event_id, bytes(stored.body)) == (event.event_id, bytes(event.body))
        assert stored.state == EventState.RECEIVED


@pytest.mark.django_db(transaction=True)
def test_a_group_that_cannot_be_inserted_is_inserted_one_by_one(monkeypatch):
    events = [_event(n) for n in range(4)]

    statements = _store_at_once(events, monkeypatch, fail_group=True)

    assert statements == [1, 3, 1, 1, 1]  # the group refused, then each of its events alone
    assert TrackingEvent.objects.filter(state=EventState.RECEIVED).count() == 4

"""The PostgreSQL backend skips the per-request `SELECT 1` only on a connection known good a moment ago."""

from __future__ import annotations

import pytest
from django.core.signals import request_finished, request_started
from django.db import connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _request(connection) -> None:
    """What Django does around a request that runs one query."""
    request_started.send(sender=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
    request_finished.send(sender=None)


def test_a_connection_used_within_the_second_is_not_checked_again_and_an_older_one_is(monkeypatch):
    from portal.postgresql.base import FRESH_SECONDS

    connection = connections["default"]
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    monkeypatch.setattr(connection, "health_check_enabled", True)
    monkeypatch.setattr(connection, "close_at", None)  # kept open between requests, as with CONN_MAX_AGE
    assert type(connection).__module__ == "portal.postgresql.base"

    _request(connection)  # a first request on a new connection
    checks.clear()
    _request(connection)  # right after a request that ran a query
    assert checks == []

    connection._known_good_at -= FRESH_SECONDS  # a second later
    _request(connection)
    assert checks == [1]

    connection._known_good_at -= FRESH_SECONDS  # a second later, a request that runs no query ...
    request_started.send(sender=None)
    request_finished.send(sender=None)
    checks.clear()
    _request(connection)  # ... proves nothing: the next one is checked
    assert checks == [1]

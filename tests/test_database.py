"""The PostgreSQL backend skips the per-request `SELECT 1` only on a connection known good a moment ago."""

from __future__ import annotations

import pytest
from django.db import connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_connection_used_within_the_second_is_not_checked_again_and_an_older_one_is(monkeypatch):
    from portal.postgresql.base import FRESH_SECONDS

    connection = connections["default"]
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    monkeypatch.setattr(connection, "health_check_enabled", True)
    connection.ensure_connection()

    connection.close_if_unusable_or_obsolete()  # a request ends with the connection free of errors
    connection.close_if_health_check_failed()  # the next request's first query
    assert checks == []

    connection._known_good_at -= FRESH_SECONDS  # a second later
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert checks == [1]
    assert type(connection).__module__ == "portal.postgresql.base"

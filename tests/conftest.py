"""The canonical test world: simulators of Odoo and AfterShip on free ports, clients pointed at them."""

from __future__ import annotations

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres" in item.keywords and connection.vendor != "postgresql":
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://..."))
        if "redis" in item.keywords:
            from django.conf import settings

            if not settings.REDIS_URL:
                item.add_marker(pytest.mark.skip(reason="needs Redis: run with REDIS_URL=redis://..."))

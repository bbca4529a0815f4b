"""The canonical test world: simulators of Odoo and AfterShip on free ports, clients pointed at them."""

from __future__ import annotations

import contextlib

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


# -- simulators --------------------------------------------------------------------------------------
AFTERSHIP_KEY = "asat_test_key"
ODOO_KEY = "e7cab076b7ad4a90745ab1d66decba764b676077"

# The carriers of the Odoo test world and their AfterShip couriers.
CARRIERS = {4: ("DHL Express", "dhl"), 5: ("FedEx", "fedex"), 6: ("UPS", "ups"), 7: ("Colissimo", "colissimo")}


@pytest.fixture(scope="session")
def aftership_server():
    from simulators.aftership import AfterShipSimulator

    sim = AfterShipSimulator(api_keys=[AFTERSHIP_KEY], time_scale=0.001, seed=7).start()
    yield sim
    sim.stop()


@pytest.fixture
def aftership(aftership_server, settings):
    """The AfterShip simulator, fresh for each test, and the portal's settings pointing at it."""
    aftership_server.reset(configuration=True)
    aftership_server.faults.reset()
    aftership_server.clear_log()
    settings.AFTERSHIP_API_BASE = aftership_server.url
    settings.AFTERSHIP_API_KEY = AFTERSHIP_KEY
    yield aftership_server
    aftership_server.faults.reset()


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    from sync import queue
    from webhooks.security import screens_forget

    with contextlib.suppress(Exception):  # the cache table exists only once a database is set up
        cache.clear()
    screens_forget()  # what this process counted of each address went with the cache
    queue._open_batch.clear()  # a batch of pushes an earlier test opened is not in this test's database
    yield


@pytest.fixture
def carrier_mappings(db):
    from sync.models import CarrierMapping

    return {
        carrier_id: CarrierMapping.objects.create(odoo_carrier_id=carrier_id, odoo_carrier_name=name, slug=slug)
        for carrier_id, (name, slug) in CARRIERS.items()
    }


@pytest.fixture
def aftership_client_factory(aftership):
    """Clients as the workers make them, with a limiter of the test's own (fast, isolated)."""
    from sync.aftership import AfterShipClient
    from sync.queue import jobs_release_after_outage
    from sync.ratelimit import DatabaseBackend, RateLimiter
    from sync.usage import usage_record

    def make(**kwargs):
        limiter = kwargs.pop(
            "limiter",
            RateLimiter(
                DatabaseBackend(),
                rates={"default": 1000},
                headroom=1.0,
                namespace=f"test-{id(aftership)}",
                on_recovery=jobs_release_after_outage,
            ),
        )
        return AfterShipClient(
            base_url=aftership.url,
            api_key=kwargs.pop("api_key", AFTERSHIP_KEY),
            limiter=limiter,
            on_call=lambda call: usage_record(service="aftership", endpoint=call.endpoint, ok=call.status < 400),
            **kwargs,
        )

    return make


@pytest.fixture(scope="session")
def odoo_server():
    from simulators.odoo import OdooSimulator

    # Odoo's password hashing costs half a second per login; the tests count logins instead of paying them.
    sim = OdooSimulator(password_rounds=1).start()
    yield sim
    sim.stop()


@pytest.fixture
def odoo(odoo_server, settings):
    """The Odoo 18 simulator holding the recorded server's records, and the portal pointing at it."""
    from simulators.odoo import transcript_world
    from sync.odoo import odoo_logins_forget

    odoo_logins_forget()  # the simulator starts again from its base data: a login of an earlier test is void
    odoo_server.reset()
    transcript_world(odoo_server)
    odoo_server.faults.reset()
    odoo_server.clear_log()
    settings.ODOO_URL = odoo_server.url
    settings.ODOO_DB = "odoo18"
    settings.ODOO_USERNAME = "aftership-bot"
    settings.ODOO_API_KEY = ODOO_KEY
    settings.ODOO_PROTOCOL = "jsonrpc"
    yield odoo_server
    odoo_server.faults.reset()


@pytest.fixture
def odoo_client(odoo):
    from sync.clients import odoo_client

    with odoo_client() as client:
        yield client

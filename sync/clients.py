"""The Odoo and AfterShip clients, wired to the portal's settings and usage counters."""

from __future__ import annotations

from .aftership import AfterShipClient, CallRecord
from .odoo import OdooClient
from .queue import jobs_release_after_outage
from .ratelimit import aftership_limiter
from .usage import usage_record


def _count_aftership(call: CallRecord) -> None:
    usage_record(
        service="aftership",
        endpoint=call.endpoint,
        ok=200 <= call.status < 300 or call.code == 4003,
        rate_limited=call.status == 429,
    )


def _count_odoo(model: str, method: str, ok: bool) -> None:
    usage_record(service="odoo", endpoint=f"{model}.{method}", ok=ok)


def aftership_client(**overrides) -> AfterShipClient:
    overrides.setdefault("limiter", aftership_limiter(on_recovery=jobs_release_after_outage))
    return AfterShipClient(on_call=_count_aftership, **overrides)


def odoo_client(config=None) -> OdooClient:
    return OdooClient(config, on_call=_count_odoo)

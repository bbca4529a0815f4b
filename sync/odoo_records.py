"""Related Odoo records read once and kept in the shared cache, instead of once per batch of deliveries.

Countries and their states are reference data: kept a day. Partners and sale orders are kept a few
minutes (`SYNC_ODOO_RECORDS_CACHE_SECONDS`), so a burst of one customer's deliveries reads them once;
an address edited in Odoo reaches the next tracking after that at the latest.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from .odoo import OdooClient

REFERENCE_SECONDS = 24 * 3600
REFERENCE_MODELS = ("res.country", "res.country.state")


def _seconds(model: str) -> int:
    return REFERENCE_SECONDS if model in REFERENCE_MODELS else settings.SYNC_ODOO_RECORDS_CACHE_SECONDS


def odoo_read_cached(client: OdooClient, model: str, ids: list[int], fields: list[str]) -> dict[int, dict]:
    """{id: record} for these ids; only those not in the cache are read, in one RPC."""
    ids = sorted(set(ids))
    seconds = _seconds(model)
    if not ids:
        return {}
    if seconds <= 0:
        return client.read_by_id(model, ids, fields)
    shape = hashlib.sha256(",".join(sorted(fields)).encode()).hexdigest()[:12]
    keys = {rid: f"shiptrack:odoo-record:{client.config.url}:{client.config.db}:{model}:{shape}:{rid}" for rid in ids}
    found = cache.get_many(list(keys.values()))
    records = {rid: found[key] for rid, key in keys.items() if key in found}
    missing = [rid for rid in ids if rid not in records]
    if missing:
        read = client.read_by_id(model, missing, fields)
        cache.set_many({keys[rid]: row for rid, row in read.items()}, seconds)
        records.update(read)
    return records

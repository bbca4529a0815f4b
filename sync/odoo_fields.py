"""Which fields this Odoo database has, asked with `fields_get(allfields=[...])` and cached for an hour.

The integration user cannot read `ir.model.fields` (AccessError, see the recorded transcripts), but any
user may call `fields_get`, which silently leaves out the names that do not exist: custom fields made in
Studio, fields of optional modules (`is_blacklisted` comes with mass mailing).
"""

from __future__ import annotations

import logging

from django.core.cache import cache

from .odoo import OdooClient

logger = logging.getLogger(__name__)

CACHE_SECONDS = 3600


def _key(client: OdooClient, model: str, wanted: set[str]) -> str:
    return f"shiptrack:odoo-fields:{client.config.url}:{client.config.db}:{model}:{','.join(sorted(wanted))}"


def odoo_fields_existing(client: OdooClient, model: str, wanted: set[str]) -> dict[str, dict]:
    """{name: {"type", "string", "readonly"}} for those of `wanted` that exist on `model`."""
    if not wanted:
        return {}
    key = _key(client, model, wanted)
    known = cache.get(key)
    if known is None:
        known = client.fields_get(model, sorted(wanted), attributes=["type", "string", "readonly"])
        cache.set(key, known, CACHE_SECONDS)
        missing = wanted - set(known)
        if missing:
            logger.info("fields not in this Odoo database", extra={"odoo_model": model, "fields": sorted(missing)})
    return known


def odoo_fields_forget(client: OdooClient, model: str, wanted: set[str]) -> None:
    """Odoo said a field is gone (or new): ask again on next use."""
    cache.delete(_key(client, model, wanted))

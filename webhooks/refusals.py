"""What happens to a refused request: a line in the security log, and repeat offenders blocked.

The security log keeps when, from where, to which path, why, how many bytes and their SHA-256, and the
harmless headers; never the body, the query string or a secret.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from sync.audit import Actor, audit_record
from sync.models import AuditAction

from .models import AUTHENTICATION_FAILURES, AddressBlock, SecurityEvent
from .security import address_block_end, address_block_start, address_failure_count

logger = logging.getLogger(__name__)

KEPT_HEADERS = ("user-agent", "content-type", "content-length", "transfer-encoding", "as-webhook-version")


def request_refused(*, request, address: str, reason: str, body: bytes | None = None, size: int | None = None) -> None:
    """Count a refused request (one row per address, path, reason and minute); a failed authentication
    counts towards blocking the address."""
    now = timezone.now()
    headers = {name: str(value)[:300] for name in KEPT_HEADERS if (value := request.headers.get(name))}
    if request.headers.get("aftership-hmac-sha256"):
        headers["aftership-hmac-sha256"] = "(present)"
    key = {
        "minute": now.replace(second=0, microsecond=0),
        "address": address or None,
        "path": request.path[:100],
        "reason": reason,
    }
    size = len(body) if body is not None else (size or 0)
    last = {
        "last_body_sha256": hashlib.sha256(body).hexdigest() if body is not None else "",
        "last_headers": headers,
        "last_at": now,
    }
    counted = {"count": F("count") + 1, "body_bytes": F("body_bytes") + size}
    if not SecurityEvent.objects.filter(**key).update(**counted, **last):
        try:
            with transaction.atomic():
                SecurityEvent.objects.create(**key, **last, count=1, body_bytes=size, first_at=now)
            logger.warning("webhook refused", extra={"remote_addr": address, "path": key["path"], "reason": reason})
        except IntegrityError:  # another request of the same minute created the row
            SecurityEvent.objects.filter(**key).update(**counted, **last)
    if reason in AUTHENTICATION_FAILURES and address:
        try:
            failures = address_failure_count(address)
            blocking = failures >= settings.WEBHOOK_BLOCK_AFTER and address_block_start(address)
        except Exception:  # the cache is down: the refusal stands, the address is not counted
            logger.exception("the cache is not answering; failure not counted towards a block")
            return
        if blocking:
            address_blocked_record(address=address, failures=failures)


def address_blocked_record(*, address: str, failures: int) -> AddressBlock:
    from sync.alerts import alert_admins

    now = timezone.now()
    block = AddressBlock.objects.create(
        address=address,
        blocked_at=now,
        blocked_until=now + timedelta(seconds=settings.WEBHOOK_BLOCK_SECONDS),
        failures=failures,
    )
    alert_admins(
        f"Webhook address {address} blocked",
        f"{address} failed authentication {failures} times within {settings.WEBHOOK_BLOCK_WINDOW_SECONDS // 60} "
        f"minutes; its requests are refused until {timezone.localtime(block.blocked_until):%Y-%m-%d %H:%M}.\n\n"
        "If this is AfterShip or your Odoo (after a token or secret changed), fix the setting, then lift the "
        "block in the admin (Blocked addresses).",
        topic="Webhook addresses blocked",
        remote_addr=address,
    )
    return block


def address_unblock(*, block: AddressBlock, actor: Actor) -> bool:
    """Lift a block now (the address may call again); False if this block had already been lifted.

    The live block in the cache goes once the lifting is committed, with its audit entry.
    """
    with transaction.atomic():
        lifted = AddressBlock.objects.filter(pk=block.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now(), lifted_by=actor.name[:150]
        )
        if not lifted:
            return False
        audit_record(
            actor=actor,
            action=AuditAction.UNBLOCK,
            obj=block,
            target=f"Address {block.address}",
            before={"blocked until": block.blocked_until, "failed attempts": block.failures},
            after={"lifted": True},
        )
        transaction.on_commit(lambda: address_block_end(block.address))
    return True


def security_log_purge(*, now=None, dry_run: bool = False) -> int:
    """Forget refusals and blocks older than SECURITY_LOG_RETENTION_DAYS. Returns the rows removed
    (or, with `dry_run`, that would be)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SECURITY_LOG_RETENTION_DAYS)
    old = [SecurityEvent.objects.filter(last_at__lt=cutoff), AddressBlock.objects.filter(blocked_until__lt=cutoff)]
    if dry_run:
        return sum(queryset.count() for queryset in old)
    return sum(queryset.delete()[0] for queryset in old)

"""What the intake keeps of requests it refused: a bounded security log, and the addresses it blocks.

A refused request is never stored with its body: one row counts an address's refusals of one kind on
one path within one minute, so a flood of any size costs a bounded number of rows.
"""

from __future__ import annotations

from django.db import models


class RefusalReason(models.TextChoices):
    BAD_TOKEN = "bad_token", "Wrong or missing URL token"
    MISSING_SIGNATURE = "missing_signature", "Missing signature"
    INVALID_SIGNATURE = "invalid_signature", "Invalid signature"
    NOT_ALLOWED = "not_allowed", "Address outside the allow-list"
    TOO_LARGE = "too_large", "Body too large"
    TOO_SLOW = "too_slow", "Body too slow to arrive"


# Refusals that count towards blocking an address: failed authentication.
AUTHENTICATION_FAILURES = (
    RefusalReason.BAD_TOKEN,
    RefusalReason.MISSING_SIGNATURE,
    RefusalReason.INVALID_SIGNATURE,
)


class SecurityEvent(models.Model):
    """Refused requests from one address to one path, for one reason, within one minute."""

    minute = models.DateTimeField(db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=100)
    reason = models.CharField(max_length=20, choices=RefusalReason.choices)
    count = models.PositiveIntegerField("requests", default=0)
    body_bytes = models.BigIntegerField("bytes sent", default=0)
    last_body_sha256 = models.CharField("last body SHA-256", max_length=64, blank=True)
    last_headers = models.JSONField("last headers (no secrets)", default=dict, blank=True)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-minute", "address"]
        verbose_name = "refused request"
        constraints = [
            models.UniqueConstraint(fields=["minute", "address", "path", "reason"], name="security_event_minute")
        ]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.address} {self.get_reason_display()}: {self.count}"


class AddressBlock(models.Model):
    """An address refused for a while after repeated failed authentication (the cache holds the live block)."""

    address = models.GenericIPAddressField(db_index=True)
    blocked_at = models.DateTimeField()
    blocked_until = models.DateTimeField()
    failures = models.PositiveIntegerField("failed authentications")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-blocked_at"]
        verbose_name = "blocked address"
        verbose_name_plural = "blocked addresses"

    def __str__(self) -> str:
        return f"{self.address} until {self.blocked_until:%Y-%m-%d %H:%M}"

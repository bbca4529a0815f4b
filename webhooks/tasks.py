"""django-q2 entry points of the intake. Thin."""

from __future__ import annotations

from .refusals import security_log_purge


def purge_security_log() -> int:
    return security_log_purge()

"""The audit log: who changed a carrier mapping or took a manual action, from the admin or a command.

Views, admin actions and commands say who acts (`Actor`); the services that change state record what
they changed, with the state before and after, through `audit_record`.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from .models import AuditAction, AuditEntry, AuditVia


@dataclass(frozen=True)
class Actor:
    name: str
    via: str
    command: str = ""

    @classmethod
    def from_request(cls, request) -> Actor:
        return cls(request.user.get_username() or "anonymous", AuditVia.ADMIN)

    @classmethod
    def from_command(cls, command: str) -> Actor:
        """The person at the shell: the user behind sudo if any, else the login running the command."""
        try:
            name = os.environ.get("SUDO_USER") or getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container)
            name = f"uid {os.getuid()}"
        return cls(name, AuditVia.COMMAND, command)

    def __str__(self) -> str:
        return self.name


def _plain(value: Any) -> Any:
    """A value as JSON can hold it (dates as ISO text, model instances as their str)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(item) for item in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    return value


def audit_snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in fields}


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    target: str = "",
    before: dict | None = None,
    after: dict | None = None,
    detail: str = "",
) -> AuditEntry:
    if actor.command:
        detail = f"manage.py {actor.command}" + (f": {detail}" if detail else "")
    return AuditEntry.objects.create(
        actor=actor.name[:150],
        via=actor.via,
        action=action,
        target=(target or (str(obj) if obj is not None else ""))[:300],
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        detail=detail,
    )


def audit_changes(
    *, actor: Actor, action: str, obj: models.Model, before: dict[str, Any], fields: list[str], target: str = ""
) -> AuditEntry | None:
    """Record the fields of `obj` that differ from `before`; nothing when nothing changed."""
    after = audit_snapshot(obj, fields)
    changed = [name for name in fields if before.get(name) != after[name]]
    if not changed and action == AuditAction.MAPPING_CHANGED:
        return None
    return audit_record(
        actor=actor,
        action=action,
        obj=obj,
        target=target,
        before={name: before.get(name) for name in changed} if before else None,
        after={name: after[name] for name in changed},
    )


def audit_purge(*, now: datetime | None = None, dry_run: bool = False) -> int:
    """Forget audit entries older than AUDIT_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    old = AuditEntry.objects.filter(at__lt=cutoff)
    return old.count() if dry_run else old.delete()[0]

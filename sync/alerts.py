"""Telling people: admins when the integration itself is broken, logistics when a parcel needs a look."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from .permissions import LOGISTICS_MANAGERS as LOGISTICS_GROUP

logger = logging.getLogger(__name__)


def _admin_emails() -> list[str]:
    users = get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
    return sorted(set(settings.SYNC_ALERT_EMAILS) | set(users.values_list("email", flat=True)))


def _logistics_emails() -> list[str]:
    users = get_user_model().objects.filter(groups__name=LOGISTICS_GROUP, is_active=True).exclude(email="")
    return sorted(set(settings.SYNC_LOGISTICS_EMAILS) | set(users.values_list("email", flat=True)))


def _send(recipients: list[str], subject: str, text: str, **context) -> None:
    logger.warning(subject, extra={"alert": True, **context})
    if not recipients:
        return
    try:
        send_mail(f"[Shiptrack] {subject}", text, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.exception("could not send an alert e-mail", extra={"subject": subject})


def alert_admins(subject: str, text: str, **context) -> None:
    _send(_admin_emails(), subject, text, **context)


def alert_logistics(subject: str, text: str, **context) -> None:
    _send(_logistics_emails(), subject, text, **context)

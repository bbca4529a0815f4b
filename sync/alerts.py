"""Telling people: admins when the integration itself is broken, logistics when a parcel needs a look.

An alert is recorded where it happens; the scheduler mails one digest per subject and period.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from .models import Alert, AlertState
from .permissions import LOGISTICS_MANAGERS as LOGISTICS_GROUP

logger = logging.getLogger(__name__)

ADMINS, LOGISTICS = "admins", "logistics"


def _admin_emails() -> list[str]:
    users = get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
    return sorted(set(settings.SYNC_ALERT_EMAILS) | set(users.values_list("email", flat=True)))


def _logistics_emails() -> list[str]:
    users = get_user_model().objects.filter(groups__name=LOGISTICS_GROUP, is_active=True).exclude(email="")
    return sorted(set(settings.SYNC_LOGISTICS_EMAILS) | set(users.values_list("email", flat=True)))


def _record(audience: str, subject: str, text: str, *, topic: str | None, **context) -> None:
    """Log it now; the mail goes out with the next digest (`alerts_send`), never from the caller's thread."""
    logger.warning(subject, extra={"alert": True, **context})
    now = timezone.now()
    topic = (topic or subject)[:200]
    latest = {"last_at": now, "latest_subject": subject[:300], "latest_text": text[:5000]}
    waiting = Alert.objects.filter(audience=audience, topic=topic, state=AlertState.WAITING)
    if waiting.update(count=F("count") + 1, **latest):
        return
    try:
        with transaction.atomic():
            Alert.objects.create(audience=audience, topic=topic, count=1, first_at=now, **latest)
    except IntegrityError:  # another worker opened the digest first
        waiting.update(count=F("count") + 1, **latest)


def alert_admins(subject: str, text: str, *, topic: str | None = None, **context) -> None:
    """Tell the admins (a digest per `topic`, which defaults to the subject)."""
    _record(ADMINS, subject, text, topic=topic, **context)


def alert_logistics(subject: str, text: str, *, topic: str | None = None, **context) -> None:
    _record(LOGISTICS, subject, text, topic=topic, **context)


def alerts_send(*, now=None) -> int:
    """Send each waiting digest whose subject had no mail within ALERT_DIGEST_MINUTES; returns mails sent."""
    now = now or timezone.now()
    period = timedelta(minutes=settings.ALERT_DIGEST_MINUTES)
    sent = 0
    for alert in Alert.objects.filter(state=AlertState.WAITING).order_by("first_at"):
        last = Alert.objects.filter(audience=alert.audience, topic=alert.topic, state=AlertState.SENT).aggregate(
            at=Max("sent_at")
        )["at"]
        if last and now - last < period:
            continue
        if not Alert.objects.filter(pk=alert.pk, state=AlertState.WAITING).update(state=AlertState.SENT, sent_at=now):
            continue  # another worker sent it
        alert.refresh_from_db()
        recipients = _admin_emails() if alert.audience == ADMINS else _logistics_emails()
        if not recipients:
            continue
        if alert.count == 1:
            subject, text = alert.latest_subject, alert.latest_text
        else:
            since = timezone.localtime(alert.first_at)
            subject = f"{alert.topic}: {alert.count} times since {since:%Y-%m-%d %H:%M}"
            text = (
                f"{alert.count} times since {since:%Y-%m-%d %H:%M}. The latest:\n\n{alert.latest_subject}\n\n"
                f"{alert.latest_text}\n\nAll of them are in the portal's admin."
            )
        try:
            send_mail(f"[Shiptrack] {subject}", text, settings.DEFAULT_FROM_EMAIL, recipients)
            sent += 1
        except Exception:
            logger.exception("could not send an alert e-mail", extra={"subject": subject})
    return sent

"""Webhook intake: check the caller, keep what arrived, queue the work, answer at once."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import transaction
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.inbound import event_record, events_ring
from sync.models import EventState, SignatureResult
from sync.pull import push_receive

from .security import client_allowed, signature_check, token_matches

logger = logging.getLogger(__name__)


class RawBodyView(APIView):
    """No DRF parsing or authentication: these endpoints read the raw bytes themselves."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []


class OdooPickingWebhook(RawBodyView):
    """POST /odoo/webhook/picking?token=...: Odoo's "Send Webhook Notification" for a validated delivery.

    Odoo waits for this answer (1 s timeout) before it commits the validation, so it does no RPC and
    no AfterShip call here: it queues a read of the delivery and answers.
    """

    def post(self, request):
        if not token_matches(request.GET.get("token"), settings.ODOO_WEBHOOK_TOKEN):
            logger.warning("Odoo webhook with a wrong token", extra={"remote_addr": request.META.get("REMOTE_ADDR")})
            return Response({"error": "Unknown or missing token."}, status=401)
        try:
            payload = json.loads(request.body or b"null")
        except ValueError:
            return Response({"error": "The body is not JSON."}, status=400)
        picking_id = push_receive(payload) if isinstance(payload, dict) else None
        if picking_id is None:
            return Response({"error": "Expected the notification of a stock.picking with its id (_id)."}, status=400)
        return Response({"queued": picking_id}, status=202)


class AfterShipTrackingWebhook(RawBodyView):
    """POST /aftership/webhook/tracking?token=...: AfterShip's tracking updates.

    The raw delivery is stored before anything parses it; the URL token and the `aftership-hmac-sha256`
    signature decide whether it is accepted; a worker applies it. AfterShip retries anything but 2xx.
    """

    def post(self, request):
        remote = request.META.get("REMOTE_ADDR")
        if not client_allowed(remote, settings.WEBHOOK_IP_ALLOWLIST):
            logger.warning("AfterShip webhook from an address outside the allow-list", extra={"remote_addr": remote})
            return Response({"error": "Not allowed from this address."}, status=403)
        body = request.body
        if not token_matches(request.GET.get("token"), settings.WEBHOOK_URL_TOKEN):
            signature = SignatureResult.BAD_TOKEN
        else:
            signature = signature_check(
                body, request.headers.get("aftership-hmac-sha256"), settings.AFTERSHIP_WEBHOOK_SECRETS
            )
        event = event_record(body=body, headers=dict(request.headers), remote_addr=remote, signature=signature)
        if event.state == EventState.REJECTED:
            logger.warning(
                "AfterShip webhook failed authentication",
                extra={"event_id": event.pk, "remote_addr": remote, "reason": signature},
            )
            return Response({"error": "Authentication failed."}, status=401)
        transaction.on_commit(events_ring)
        return Response({"received": event.pk}, status=200)

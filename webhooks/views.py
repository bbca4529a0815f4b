"""Webhook intake: check the caller, keep what arrived, queue the work, answer at once."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.pull import push_receive

from .security import token_matches

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

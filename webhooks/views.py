"""Webhook intake: check the caller, keep what arrived, queue the work, answer at once.

Both endpoints refuse, in this order and each without reading more than it must:
1. a body over WEBHOOK_MAX_BODY_BYTES: 413, from Content-Length before reading (and while reading a
   chunked body);
2. a blocked address: 403, from the process's view of the cache's block list, with no body read and
   nothing written to the database (the same look counts the request against the rate of step 5,
   whatever its outcome; `security.address_screen`);
3. an address outside WEBHOOK_IP_ALLOWLIST: 403;
4. a wrong URL token, then (AfterShip) a missing or wrong signature: 401;
5. more than WEBHOOK_THROTTLE_RATE from one address: 429 with Retry-After.
A refusal is counted in the security log (never with its body); repeated failed authentication
blocks the address. A body that takes longer than WEBHOOK_BODY_TIMEOUT_SECONDS to arrive: 408.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket

from django.conf import settings
from django.db import transaction
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from sync.inbound import event_record, events_ring_for_webhook
from sync.models import EventState, SignatureResult
from sync.pull import push_receive

from .body import BodyTooLarge, BodyTooSlow, declared_length, read_body
from .models import RefusalReason
from .refusals import request_refused
from .security import (
    AddressRateThrottle,
    address_screen,
    client_address,
    client_allowed,
    signature_check,
    token_matches,
)

logger = logging.getLogger(__name__)

_SIGNATURE_REFUSALS = {
    SignatureResult.MISSING: RefusalReason.MISSING_SIGNATURE,
    SignatureResult.INVALID: RefusalReason.INVALID_SIGNATURE,
}


class WebhookView(APIView):
    """No DRF parsing or authentication: these endpoints check the caller and read the raw bytes themselves."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []
    throttle_classes = [AddressRateThrottle]
    rate_scope = ""
    token_setting = ""

    renderer_classes = [JSONRenderer]
    _renderer = JSONRenderer()

    def initial(self, request, *args, **kwargs):
        # DRF would throttle here, before the caller is known; `gate` does it in its place in the order.
        # A webhook's answer is JSON whatever its Accept header says (no 406 for a sender's odd header).
        self.format_kwarg = None
        request.accepted_renderer, request.accepted_media_type = self._renderer, self._renderer.media_type

    def gate(self, request, *, authenticate=None) -> tuple[bytes | None, Response | None]:
        """Run the checks in order; (body, None) to go on, or (None, the refusal to answer with)."""
        address = client_address(request)
        length = declared_length(request)
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        if length is not None and length > limit:
            request_refused(request=request, address=address, reason=RefusalReason.TOO_LARGE, size=length)
            return None, _refusal(413, f"The body is larger than {limit} bytes.", request)
        request.webhook_screen = screen = address_screen(address=address, scope=self.rate_scope)
        if screen.blocked:
            return None, _refusal(403, "Refused: too many failed attempts from this address.")
        if not client_allowed(address, settings.WEBHOOK_IP_ALLOWLIST):
            request_refused(request=request, address=address, reason=RefusalReason.NOT_ALLOWED, size=length)
            return None, _refusal(403, "Not allowed from this address.")
        if not token_matches(request.GET.get("token"), getattr(settings, self.token_setting)):
            request_refused(request=request, address=address, reason=RefusalReason.BAD_TOKEN, size=length)
            return None, _refusal(401, "Unknown or missing token.")
        try:
            body = read_body(request, limit=limit, timeout=settings.WEBHOOK_BODY_TIMEOUT_SECONDS)
        except BodyTooLarge:
            request_refused(request=request, address=address, reason=RefusalReason.TOO_LARGE, size=limit)
            return None, _refusal(413, f"The body is larger than {limit} bytes.", request)
        except BodyTooSlow:
            request_refused(request=request, address=address, reason=RefusalReason.TOO_SLOW, size=length)
            return None, _refusal(408, "The body did not arrive in time.", request)
        if authenticate is not None and (reason := authenticate(body)):
            request_refused(request=request, address=address, reason=reason, body=body)
            return None, _refusal(401, "Authentication failed.")
        self.check_throttles(request)  # raises Throttled: 429 with Retry-After
        return body, None


def _refusal(status: int, message: str, request=None) -> Response:
    sock = request.META.get("gunicorn.socket") if request is not None else None
    if sock is not None:
        # The rest of the body is not wanted: gunicorn would read (and drop) it all to keep the connection.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)
    return Response({"error": message}, status=status)


class OdooPickingWebhook(WebhookView):
    """POST /odoo/webhook/picking?token=...: Odoo's "Send Webhook Notification" for a validated delivery.

    Odoo waits for this answer (1 s timeout) before it commits the validation, so it does no RPC and
    no AfterShip call here: it queues a read of the delivery and answers.
    """

    rate_scope = "odoo"
    token_setting = "ODOO_WEBHOOK_TOKEN"

    def post(self, request):
        body, refusal = self.gate(request)
        if refusal is not None:
            return refusal
        try:
            payload = json.loads(body or b"null")
        except (ValueError, RecursionError):
            return Response({"error": "The body is not JSON."}, status=400)
        picking_id = push_receive(payload) if isinstance(payload, dict) else None
        if picking_id is None:
            return Response({"error": "Expected the notification of a stock.picking with its id (_id)."}, status=400)
        return Response({"queued": picking_id}, status=202)


class AfterShipTrackingWebhook(WebhookView):
    """POST /aftership/webhook/tracking?token=...: AfterShip's tracking updates.

    The URL token and the `aftership-hmac-sha256` signature decide whether a delivery is genuine. A
    genuine one is stored raw, whatever it holds, and answered 200 (AfterShip resends anything else for
    days); a worker applies it. A refused one goes to the security log, never with its body.
    """

    rate_scope = "aftership"
    token_setting = "WEBHOOK_URL_TOKEN"

    def post(self, request):
        outcome = {}

        def authenticate(body: bytes) -> str | None:
            header = request.headers.get("aftership-hmac-sha256")
            outcome["signature"] = signature_check(body, header, settings.AFTERSHIP_WEBHOOK_SECRETS)
            return _SIGNATURE_REFUSALS.get(outcome["signature"])

        body, refusal = self.gate(request, authenticate=authenticate)
        if refusal is not None:
            return refusal
        headers, address = dict(request.headers), client_address(request)
        event = event_record(body=body, headers=headers, remote_addr=address, signature=outcome["signature"])
        if event.state == EventState.RECEIVED:
            transaction.on_commit(events_ring_for_webhook)
        return Response({"received": event.pk}, status=200)

"""``POST /webhooks/bounce``: bounce reports from our own sender pool.

Two ways to authenticate (docs/bounces.md has the wire format):

- **Signed** (our pool nodes, or any relay wrapper): headers ``X-Pool-Route``,
  ``X-Pool-Timestamp`` (Unix seconds) and ``X-Pool-Signature: v1=<hex>``, the
  HMAC-SHA256 under the route's secret of ``"<timestamp>." + body``. Requests
  more than ``POOL_WEBHOOK_MAX_SKEW_SECONDS`` off our clock are refused, and a
  signature is accepted once (replays inside the window are refused).
- **Token** (Amazon SES through an SNS HTTPS subscription, which cannot add
  headers): ``?route=<name>&token=<secret>``. SNS's own message signature needs
  Amazon's certificate over the network and is *not* verified; the token is the
  only proof, so use HTTPS. Only SNS envelopes are accepted this way; each SNS
  ``MessageId`` is accepted once and notifications older than a day are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime

from django.conf import settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bounces.reports import (
    pool_bounces_from_json,
    pool_bounces_record,
    pool_nonce_claim,
)

from ..errors import error_response

SNS_MAX_AGE_SECONDS = 24 * 3600
logger = logging.getLogger(__name__)


def pool_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Pool-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return f"v1={digest}"


def _refuse(message: str) -> Response:
    return error_response(10, message, 401)


class PoolBounceWebhookApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request: Request) -> Response:
        body = request.body
        route = request.META.get("HTTP_X_POOL_ROUTE", "").strip()
        if route:
            refusal = self._check_signature(request, route, body)
            sns_mode = False
        else:
            route = request.query_params.get("route", "").strip()
            refusal = self._check_token(request, route)
            sns_mode = True
        if refusal is not None:
            return refusal
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return error_response(402, "Received invalid JSON input.")
        if sns_mode:
            refusal = self._check_sns(payload)
            if refusal is not None:
                return refusal
        if isinstance(payload, dict) and payload.get("Type") == (
            "SubscriptionConfirmation"
        ):
            # Confirming means fetching SubscribeURL from Amazon: the operator
            # does that once, by hand (we make no outbound calls from here).
            logger.warning(
                "SNS subscription for route %s awaits confirmation: %s",
                route,
                payload.get("SubscribeURL"),
            )
            return Response(
                {
                    "ErrorCode": 0,
                    "Message": "Subscription confirmation received; an operator "
                    "must visit its SubscribeURL (logged).",
                    "Recorded": 0,
                    "BounceIDs": [],
                    "Unmatched": 0,
                }
            )
        items = pool_bounces_from_json(payload)
        bounces, unmatched = pool_bounces_record(items=items, raw=body, route=route)
        return Response(
            {
                "ErrorCode": 0,
                "Message": "OK",
                "Recorded": len(bounces),
                "BounceIDs": [b.id for b in bounces],
                "Unmatched": unmatched,
            }
        )

    def _check_signature(
        self, request: Request, route: str, body: bytes
    ) -> Response | None:
        secret = settings.POOL_WEBHOOK_SECRETS.get(route)
        timestamp = request.META.get("HTTP_X_POOL_TIMESTAMP", "").strip()
        signature = request.META.get("HTTP_X_POOL_SIGNATURE", "").strip()
        if not secret or not timestamp.isdigit() or not signature:
            return _refuse("Unknown route or missing signature headers.")
        expected = pool_signature(secret=secret, timestamp=timestamp, body=body)
        if not hmac.compare_digest(expected, signature):
            return _refuse("The pool signature does not match.")
        skew = settings.POOL_WEBHOOK_MAX_SKEW_SECONDS
        if abs(time.time() - int(timestamp)) > skew:
            return _refuse("The request timestamp is outside the allowed window.")
        if not pool_nonce_claim(key=f"sig:{signature}", ttl_seconds=2 * skew):
            return _refuse("This request was already received (replay).")
        return None

    def _check_token(self, request: Request, route: str) -> Response | None:
        secret = settings.POOL_WEBHOOK_SECRETS.get(route) if route else None
        token = request.query_params.get("token", "")
        if not secret or not hmac.compare_digest(secret.encode(), token.encode()):
            return _refuse("Unknown route or wrong token.")
        return None

    def _check_sns(self, payload: object) -> Response | None:
        if not isinstance(payload, dict) or not payload.get("MessageId"):
            return error_response(
                300, "Token authentication accepts only SNS notifications."
            )
        stamp = str(payload.get("Timestamp") or "")
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return error_response(300, "The SNS 'Timestamp' is missing or invalid.")
        if (
            sent.tzinfo is None
            or abs(time.time() - sent.timestamp()) > SNS_MAX_AGE_SECONDS
        ):
            return _refuse("The SNS notification is too old.")
        if not pool_nonce_claim(
            key=f"sns:{payload['MessageId']}", ttl_seconds=2 * SNS_MAX_AGE_SECONDS
        ):
            return _refuse("This SNS notification was already received (replay).")
        return None


urlpatterns = [
    path("webhooks/bounce", PoolBounceWebhookApi.as_view()),
]

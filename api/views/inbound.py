"""Postmark's inbound Messages API and inbound rule triggers (server token).

``GET /messages/inbound``, ``GET /messages/inbound/{id}/details``,
``PUT /messages/inbound/{id}/bypass``, ``PUT /messages/inbound/{id}/retry``,
``GET|POST /triggers/inboundrules``, ``DELETE /triggers/inboundrules/{id}``.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from inbound import selectors, services
from inbound.models import InboundMessage
from inbound.parsing import SUMMARY_KEYS
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param
from ..serializers import format_datetime
from .messages import NOT_FOUND, _paging, parse_query_date

# Keys of Postmark's inbound list item, in Postmark's order: the stored summary's
# keys (inbound.parsing) but MessageStream, which comes from the row.
LIST_KEYS = tuple(key for key in SUMMARY_KEYS if key != "MessageStream")
DETAIL_KEYS = ("TextBody", "HtmlBody", "StrippedTextReply", "Headers")
MAX_RULES_COUNT = 500


def inbound_message_json(message: InboundMessage) -> dict[str, Any]:
    """Postmark's inbound message list item (``InboundMessages[]``)."""
    summary = message.summary or {}
    body: dict[str, Any] = {key: summary.get(key, "") for key in LIST_KEYS}
    for key in ("ToFull", "CcFull", "BccFull"):
        body[key] = summary.get(key) or []
    body["FromFull"] = summary.get("FromFull") or {
        "Email": message.from_email,
        "Name": "",
        "MailboxHash": "",
    }
    body["Tag"] = message.tag
    body["MessageID"] = str(message.message_id)
    body["Status"] = message.status
    body["Attachments"] = summary.get("Attachments") or []
    body["MessageStream"] = message.message_stream
    # Extension: when we received it (Date is the sender's claim).
    body["ReceivedAt"] = format_datetime(message.received_at)
    return body


def _get_or_701(server, message_id: str) -> InboundMessage:
    message = selectors.inbound_get(server=server, message_id=message_id)
    if message is None:
        raise ApplicationError(701, NOT_FOUND)
    return message


def parse_inbound_filters(request: Request) -> selectors.InboundFilters:
    """Query string → ``InboundFilters``; raises ``ApplicationError(700)``."""
    status = query_param(request, "status").lower()
    if status and status not in selectors.STATUS_FILTERS:
        raise ApplicationError(
            700,
            "The 'status' parameter must be one of: blocked, processed, queued, "
            "failed, scheduled.",
        )
    return selectors.InboundFilters(
        recipient=query_param(request, "recipient"),
        fromemail=query_param(request, "fromemail", "from_email"),
        tag=query_param(request, "tag"),
        subject=query_param(request, "subject"),
        mailboxhash=query_param(request, "mailboxhash", "mailbox_hash"),
        status=status,
        fromdate=parse_query_date(
            query_param(request, "fromdate"), name="fromdate", end=False
        ),
        todate=parse_query_date(
            query_param(request, "todate"), name="todate", end=True
        ),
    )


class InboundMessageListApi(ServerApiView):
    def get(self, request: Request) -> Response:
        count, offset = _paging(request)
        filters = parse_inbound_filters(request)
        total, page = selectors.inbound_list(
            server=self.server, filters=filters, count=count, offset=offset
        )
        return Response(
            {
                "TotalCount": total,
                "InboundMessages": [inbound_message_json(m) for m in page],
            }
        )


class InboundMessageDetailsApi(ServerApiView):
    def get(self, request: Request, message_id: str) -> Response:
        message = _get_or_701(self.server, message_id)
        body = inbound_message_json(message)
        full = selectors.inbound_details(message=message)
        for key in DETAIL_KEYS:
            body[key] = full.get(key, [] if key == "Headers" else "")
        if full.get("Attachments") is not None:
            body["Attachments"] = full["Attachments"]
        body["BlockedReason"] = message.blocked_reason
        if "RawEmail" in full:
            body["RawEmail"] = full["RawEmail"]
        return Response(body)


class InboundMessageBypassApi(ServerApiView):
    def put(self, request: Request, message_id: str) -> Response:
        message = services.inbound_bypass(server=self.server, message_id=message_id)
        return Response(
            {
                "ErrorCode": 0,
                "Message": f"Successfully bypassed message: {message.message_id}",
            }
        )


class InboundMessageRetryApi(ServerApiView):
    def put(self, request: Request, message_id: str) -> Response:
        message = services.inbound_retry(server=self.server, message_id=message_id)
        return Response(
            {
                "ErrorCode": 0,
                "Message": "Successfully rescheduled failed message: "
                f"{message.message_id}",
            }
        )


def _rule_paging(request: Request) -> tuple[int, int]:
    values = {}
    for name, default in (("count", "100"), ("offset", "0")):
        raw = query_param(request, name, default=default)
        try:
            values[name] = int(raw)
        except ValueError as exc:
            raise ApplicationError(
                800, f"The '{name}' parameter must be an integer."
            ) from exc
    if not 1 <= values["count"] <= MAX_RULES_COUNT or values["offset"] < 0:
        raise ApplicationError(
            800,
            f"'count' must be between 1 and {MAX_RULES_COUNT} and 'offset' must "
            "not be negative.",
        )
    return values["count"], values["offset"]


class InboundRuleListApi(ServerApiView):
    def get(self, request: Request) -> Response:
        count, offset = _rule_paging(request)
        total, rules = selectors.inbound_rule_list(
            server=self.server, count=count, offset=offset
        )
        return Response(
            {
                "TotalCount": total,
                "InboundRules": [{"ID": r.id, "Rule": r.rule} for r in rules],
            }
        )

    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        lowered = {str(k).lower(): v for k, v in data.items()}
        rule = services.inbound_rule_create(
            server=self.server, rule=lowered.get("rule")
        )
        return Response({"ID": rule.id, "Rule": rule.rule})


class InboundRuleApi(ServerApiView):
    def delete(self, request: Request, rule_id: str) -> Response:
        deleted = services.inbound_rule_delete(server=self.server, rule_id=rule_id)
        return Response({"ErrorCode": 0, "Message": f"Rule {deleted} removed."})


urlpatterns = [
    path("messages/inbound", InboundMessageListApi.as_view()),
    path(
        "messages/inbound/<str:message_id>/details",
        InboundMessageDetailsApi.as_view(),
    ),
    path("messages/inbound/<str:message_id>/bypass", InboundMessageBypassApi.as_view()),
    path("messages/inbound/<str:message_id>/retry", InboundMessageRetryApi.as_view()),
    path("triggers/inboundrules", InboundRuleListApi.as_view()),
    path("triggers/inboundrules/<str:rule_id>", InboundRuleApi.as_view()),
]

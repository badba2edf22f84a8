"""Inbound: received messages with their status, a detail page with the parsed
fields and attachments, and the Retry / Bypass actions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from inbound import selectors as inbound_selectors
from inbound import services as inbound_services
from inbound.models import InboundMessage
from postmark_clone.errors import ApplicationError

from ..access import server_for_request
from .common import PAGE_SIZE, page_for, page_number

STATUSES = [s.value for s in InboundMessage.Status]


@login_required
@require_GET
def inbound_list(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    status = request.GET.get("status", "")
    if status.lower() not in inbound_selectors.STATUS_FILTERS:
        status = ""
    filters = inbound_selectors.InboundFilters(
        recipient=request.GET.get("recipient", "").strip(),
        status=status.lower(),
    )
    number = page_number(request)
    total, rows = inbound_selectors.inbound_list(
        server=access.server,
        filters=filters,
        count=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "web/inbound.html",
        {
            "access": access,
            "server": access.server,
            "tab": "inbound",
            "rows": rows,
            "statuses": STATUSES,
            "current_status": status.capitalize(),
            "recipient": filters.recipient,
            "inbound_domain": settings.INBOUND_ADDRESS_DOMAIN,
            "page": page_for(request, total=total, number=number),
        },
    )


def _message_or_404(request: HttpRequest, server_id: int, message_id: str):
    access = server_for_request(request, server_id)
    message = inbound_selectors.inbound_get(server=access.server, message_id=message_id)
    if message is None:
        raise Http404("No such inbound message.")
    return access, message


@login_required
@require_GET
def inbound_detail(
    request: HttpRequest, server_id: int, message_id: str
) -> HttpResponse:
    access, message = _message_or_404(request, server_id, message_id)
    return render(
        request,
        "web/inbound_detail.html",
        {
            "access": access,
            "server": access.server,
            "tab": "inbound",
            "message": message,
            "full": inbound_selectors.inbound_details(message=message),
        },
    )


@login_required
@require_POST
def inbound_action(
    request: HttpRequest, server_id: int, message_id: str, action: str
) -> HttpResponse:
    access, message = _message_or_404(request, server_id, message_id)
    service = {
        "retry": inbound_services.inbound_retry,
        "bypass": inbound_services.inbound_bypass,
    }.get(action)
    if service is None:
        raise Http404("No such action.")
    try:
        updated = service(server=access.server, message_id=str(message.message_id))
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(
            request,
            f"{'Retry' if action == 'retry' else 'Bypass'} accepted: the message "
            f"is {updated.status.lower()}.",
        )
    return redirect(
        "web:inbound_detail", server_id=access.server.id, message_id=message.message_id
    )

"""Server list, Activity (archive search), message detail and Statistics."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from messages.archive import archive_get
from messages.selectors import message_events, message_get, message_search
from tracking.selectors import message_tracking, tracking_daily

from ..access import server_for_request
from ..charts import bar_chart
from ..forms import ActivityFilterForm
from ..mail import mail_parse, preview_html
from ..selectors import (
    daily_stats,
    message_recipients,
    outbound_streams,
    user_accounts,
)
from .common import PAGE_SIZE, page_for, page_number

# Inline raw source up to this size; larger messages link to the raw view.
INLINE_RAW_LIMIT = 256 * 1024
# The preview's policy (W3C CSP Level 3): nothing loads or runs. The
# `sandbox` directive (no allow-scripts, no allow-same-origin) also applies when
# the URL is opened directly instead of in the page's sandboxed iframe.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)
PREVIEW_CSP_REMOTE = PREVIEW_CSP.replace(
    "img-src data: cid:", "img-src data: cid: https: http:"
)


@login_required
@require_GET
def server_index(request: HttpRequest) -> HttpResponse:
    """Every server of every account the user belongs to."""
    accounts = user_accounts(user=request.user)
    return render(request, "web/servers.html", {"accounts": accounts})


@login_required
@require_GET
def activity(request: HttpRequest, server_id: int) -> HttpResponse:
    """Archive search with the API's filters (``GET /messages/outbound``); the
    filters live in the URL, so a search can be bookmarked and shared."""
    access = server_for_request(request, server_id)
    streams = outbound_streams(server=access.server)
    form = ActivityFilterForm(request.GET or None, streams=streams)
    number = page_number(request)
    total, messages = message_search(
        server=access.server,
        filters=form.filters(),
        count=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "web/activity.html",
        {
            "access": access,
            "server": access.server,
            "tab": "activity",
            "form": form,
            "messages_page": messages,
            "page": page_for(request, total=total, number=number),
        },
    )


def _message_or_404(request: HttpRequest, server_id: int, message_id: str):
    access = server_for_request(request, server_id)
    message = message_get(server=access.server, message_id=message_id)
    if message is None:
        raise Http404("No such message.")
    return access, message


@login_required
@require_GET
def message_detail(
    request: HttpRequest, server_id: int, message_id: str
) -> HttpResponse:
    access, message = _message_or_404(request, server_id, message_id)
    raw = archive_get(key=message.archive_key)
    parsed = mail_parse(raw) if raw is not None else None
    recipients = message_recipients(message=message)
    opens, clicks = message_tracking(message=message)
    return render(
        request,
        "web/message_detail.html",
        {
            "access": access,
            "server": access.server,
            "tab": "activity",
            "message": message,
            # A list, not the dict: a tenant's metadata key named "items" would
            # otherwise shadow dict.items in the template.
            "metadata": sorted((message.metadata or {}).items()),
            "recipients": recipients,
            "events": message_events(message=message),
            "opens": opens,
            "clicks": clicks,
            "parsed": parsed,
            "raw_text": raw.decode("utf-8", errors="replace")
            if raw is not None and len(raw) <= INLINE_RAW_LIMIT
            else None,
            "raw_size": len(raw) if raw is not None else 0,
            "remote": request.GET.get("remote") == "1",
        },
    )


@login_required
@require_GET
@xframe_options_sameorigin
def message_html(request: HttpRequest, server_id: int, message_id: str) -> HttpResponse:
    """The HTML part alone, for the sandboxed preview iframe. No script runs and
    nothing remote loads; ``?remote=1`` (the user's explicit choice) relaxes
    ``img-src`` only."""
    _access, message = _message_or_404(request, server_id, message_id)
    raw = archive_get(key=message.archive_key)
    parsed = mail_parse(raw) if raw is not None else None
    if parsed is None or parsed.html is None:
        raise Http404("This message has no HTML part.")
    response = HttpResponse(
        preview_html(parsed), content_type="text/html; charset=utf-8"
    )
    remote = request.GET.get("remote") == "1"
    response["Content-Security-Policy"] = PREVIEW_CSP_REMOTE if remote else PREVIEW_CSP
    # Remote images, when allowed, must not learn which message was opened.
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_GET
def message_raw(request: HttpRequest, server_id: int, message_id: str) -> HttpResponse:
    """The archived RFC 5322 source as plain text (``?download=1``: as a .eml)."""
    _access, message = _message_or_404(request, server_id, message_id)
    raw = archive_get(key=message.archive_key)
    if raw is None:
        raise Http404("The message content is no longer stored.")
    if request.GET.get("download") == "1":
        response = HttpResponse(raw, content_type="message/rfc822")
        response["Content-Disposition"] = (
            f'attachment; filename="{message.message_id}.eml"'
        )
    else:
        response = HttpResponse(raw, content_type="text/plain; charset=utf-8")
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_GET
def statistics(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    days = daily_stats(server=access.server, days=30)
    tracked = tracking_daily(server=access.server, first=days[0].day, last=days[-1].day)
    charts = [
        bar_chart(title="Sent", key="sent", series=[(d.day, d.sent) for d in days]),
        bar_chart(
            title="Delivered",
            key="delivered",
            series=[(d.day, d.delivered) for d in days],
        ),
        bar_chart(
            title="Bounced", key="bounced", series=[(d.day, d.bounced) for d in days]
        ),
        bar_chart(
            title="Spam complaints", key="spam", series=[(d.day, d.spam) for d in days]
        ),
        bar_chart(
            title="Unique opens",
            key="opens",
            series=[
                (d.day, tracked.get(d.day, {}).get("UniqueOpens", 0)) for d in days
            ],
        ),
        bar_chart(
            title="Clicks",
            key="clicks",
            series=[(d.day, tracked.get(d.day, {}).get("Clicks", 0)) for d in days],
        ),
    ]
    return render(
        request,
        "web/statistics.html",
        {
            "access": access,
            "server": access.server,
            "tab": "statistics",
            "charts": charts,
            "days": [
                (
                    d,
                    tracked.get(d.day, {}).get("UniqueOpens", 0),
                    tracked.get(d.day, {}).get("Clicks", 0),
                )
                for d in reversed(days)
            ],
        },
    )

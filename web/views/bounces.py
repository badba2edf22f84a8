"""Bounces (by type, filters, detail with raw report, reactivate) and
Suppressions (list, add, remove, CSV export)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bounces import selectors as bounce_selectors
from bounces import services as bounce_services
from messages.archive import archive_get
from postmark_clone.errors import ApplicationError

from ..access import server_for_request
from ..forms import BounceFilterForm, SuppressionAddForm
from ..selectors import (
    bounce_type_counts,
    outbound_streams,
    suppression_export,
    suppression_search,
)
from .common import PAGE_SIZE, page_for, page_number

RAW_REPORT_LIMIT = 512 * 1024


@login_required
@require_GET
def bounce_list(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    streams = outbound_streams(server=access.server)
    form = BounceFilterForm(request.GET or None, streams=streams)
    number = page_number(request)
    total, bounces = bounce_selectors.bounce_list(
        server=access.server,
        filters=form.filters(),
        count=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "web/bounces.html",
        {
            "access": access,
            "server": access.server,
            "tab": "bounces",
            "form": form,
            "type_counts": bounce_type_counts(server=access.server),
            "current_type": form.filters().type,
            "bounces": bounces,
            "page": page_for(request, total=total, number=number),
        },
    )


def _bounce_or_404(request: HttpRequest, server_id: int, bounce_id: int):
    access = server_for_request(request, server_id)
    bounce = bounce_selectors.bounce_get(server=access.server, bounce_id=bounce_id)
    if bounce is None:
        raise Http404("No such bounce.")
    return access, bounce


@login_required
@require_GET
def bounce_detail(request: HttpRequest, server_id: int, bounce_id: int) -> HttpResponse:
    access, bounce = _bounce_or_404(request, server_id, bounce_id)
    report = archive_get(key=bounce.dump_key) if bounce.dump_key else None
    return render(
        request,
        "web/bounce_detail.html",
        {
            "access": access,
            "server": access.server,
            "tab": "bounces",
            "bounce": bounce,
            "report": report[:RAW_REPORT_LIMIT].decode("utf-8", errors="replace")
            if report is not None
            else None,
            "report_truncated": report is not None and len(report) > RAW_REPORT_LIMIT,
        },
    )


@login_required
@require_POST
def bounce_activate(
    request: HttpRequest, server_id: int, bounce_id: int
) -> HttpResponse:
    access, bounce = _bounce_or_404(request, server_id, bounce_id)
    try:
        bounce_services.bounce_activate(server=access.server, bounce_id=bounce.id)
    except ApplicationError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, f"{bounce.email} is active again.")
    return redirect(
        "web:bounce_detail", server_id=access.server.id, bounce_id=bounce.id
    )


def _stream_choice(request: HttpRequest, streams) -> str:
    wanted = request.GET.get("stream") or request.POST.get("stream") or ""
    ids = [s.stream_id for s in streams]
    if wanted in ids:
        return wanted
    if wanted:
        raise Http404("No such stream.")
    return ids[0] if ids else "outbound"


@login_required
def suppression_list(request: HttpRequest, server_id: int) -> HttpResponse:
    """GET lists a stream's suppressions; POST adds addresses to it."""
    access = server_for_request(request, server_id)
    streams = outbound_streams(server=access.server)
    stream = _stream_choice(request, streams)
    add_form = SuppressionAddForm(request.POST or None)
    if request.method == "POST":
        if add_form.is_valid():
            results = bounce_services.suppression_add(
                server=access.server,
                message_stream=stream,
                emails=add_form.addresses(),
                origin="Customer",
            )
            ok = [r["EmailAddress"] for r in results if r["Status"] == "Suppressed"]
            failed = [r["EmailAddress"] for r in results if r["Status"] != "Suppressed"]
            if ok:
                flash.success(request, f"Suppressed {len(ok)} address(es).")
            if failed:
                flash.error(request, "Not valid: " + ", ".join(failed[:20]))
            return redirect(
                reverse("web:suppressions", args=[access.server.id])
                + f"?stream={stream}"
            )
    elif request.method != "GET":
        return HttpResponse(status=405)
    email = request.GET.get("email", "")
    number = page_number(request)
    total, rows = suppression_search(
        server=access.server,
        message_stream=stream,
        email=email,
        count=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "web/suppressions.html",
        {
            "access": access,
            "server": access.server,
            "tab": "suppressions",
            "streams": streams,
            "stream": stream,
            "email": email,
            "add_form": add_form,
            "suppressions": rows,
            "page": page_for(request, total=total, number=number),
        },
    )


@login_required
@require_POST
def suppression_remove(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    stream = _stream_choice(request, outbound_streams(server=access.server))
    email = request.POST.get("email", "")
    results = bounce_services.suppression_delete(
        server=access.server, message_stream=stream, emails=[email]
    )
    if results and results[0]["Status"] == "Deleted":
        flash.success(request, f"{email} can receive messages again.")
    else:
        flash.error(request, results[0]["Message"] if results else "Nothing to do.")
    return redirect(
        reverse("web:suppressions", args=[access.server.id]) + f"?stream={stream}"
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def suppression_csv(request: HttpRequest, server_id: int) -> StreamingHttpResponse:
    """All of a stream's suppressions as CSV, streamed (no size limit in memory)."""
    access = server_for_request(request, server_id)
    stream = _stream_choice(request, outbound_streams(server=access.server))
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(
            ["EmailAddress", "SuppressionReason", "Origin", "CreatedAt"]
        )
        for email, reason, origin, created in suppression_export(
            server=access.server, message_stream=stream
        ):
            # A leading =, +, - or @ would be a formula in spreadsheet apps.
            safe = "'" + email if email and email[0] in "=+-@" else email
            yield writer.writerow([safe, reason, origin, created.isoformat()])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="suppressions-{access.server.id}-{stream}.csv"'
    )
    return response

"""The public broadcast unsubscribe page: ``/unsubscribe/<token>``.

GET shows a confirmation button and changes nothing (link scanners and
prefetchers follow GET links). POST unsubscribes: the page's own button, and
the one-click POST a mail client sends with body ``List-Unsubscribe=One-Click``
(RFC 8058 §3.2), which carries no cookies and no CSRF token, hence the exemption.
A forged or unknown token gets 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from bounces.subscriptions import unsubscribe_confirm, unsubscribe_lookup


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        found = unsubscribe_confirm(token=token)
    else:
        found = unsubscribe_lookup(token=token)
    if found is None:
        response = render(request, "web/unsubscribe_invalid.html", status=404)
    else:
        response = render(
            request,
            "web/unsubscribe.html",
            {
                "email": found.target.email,
                "stream_name": found.stream.name,
                "done": request.method == "POST",
            },
        )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response

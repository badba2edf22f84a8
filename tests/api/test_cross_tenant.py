"""Another tenant's IDs on every API endpoint answer exactly as a missing ID does.

The endpoints are read from ``api.urls`` at run time: a new route with an ID in
its path needs an entry in ``OTHER``/``MISSING`` below (the test fails until it
has one), and every list endpoint is checked for leaks of the other tenant's
data without any change here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from django.urls import URLPattern

from accounts.models import Domain, MessageStream, Server
from api.urls import urlpatterns
from bounces.models import Bounce, Suppression
from inbound.models import InboundMessage, InboundRule
from inbound.services.receive import inbound_receive
from messages.models import Message
from templating.models import Template
from templating.services.crud import template_create
from webhooks.models import Webhook
from webhooks.services.config import WebhookInput, webhook_create

from ..web.conftest import hard_bounce, send

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
# One body for every write: each endpoint reads the keys it knows.
BODY = {
    "Name": "taken over",
    "ReturnPathDomain": "pm-bounces.globex.example.com",
    "Url": "https://attacker.example.net/hook",
    "Suppressions": [{"EmailAddress": "victim@example.org"}],
    "MessageStream": "outbound",
}
# Routes with no tenant data (pool webhooks authenticate by route secret,
# operations are for the operator).
UNSCOPED = {"webhooks/bounce", "metrics", "health/routes"}


@dataclass
class Case:
    other: str  # the other tenant's ID for this path parameter
    missing: str  # an ID nobody has


@pytest.fixture
def world(tenant, other_tenant, settings, dns_zone):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    mine = send(tenant, to="alice@example.org")
    hard_bounce(tenant, mine, "alice@example.org")
    theirs = send(
        other_tenant, to="carol@globex-people.example.org", subject="Globex secret"
    )
    bounce = hard_bounce(other_tenant, theirs, "carol@globex-people.example.org")
    MessageStream.objects.create(
        server=other_tenant.server,
        stream_id="globex-news",
        name="Globex news",
        stream_type=MessageStream.Type.BROADCASTS,
    )
    hook = webhook_create(
        server=other_tenant.server,
        data=WebhookInput(url="https://hooks.globex.example.com/secret-path"),
    )
    template = template_create(
        server=other_tenant.server,
        name="Globex template",
        alias="globex-welcome",
        subject="Hi",
        text_body="Hello {{name}}",
    )
    rule = InboundRule.objects.create(
        server=other_tenant.server, rule="spammer@globex-rival.example.net"
    )
    inbound_receive(
        mail_from="carol@globex-people.example.org",
        rcpt_tos=[
            f"{other_tenant.server.inbound_hash}@{settings.INBOUND_ADDRESS_DOMAIN}"
        ],
        raw=b"From: carol@globex-people.example.org\r\nSubject: Globex inbound\r\n"
        b"\r\nsecret\r\n",
    )
    inbound = InboundMessage.objects.get(server=other_tenant.server)
    cases = {
        "server_id": Case(
            str(other_tenant.server.id), str(other_tenant.server.id + 10**6)
        ),
        "domain_id": Case(
            str(other_tenant.domain.id), str(other_tenant.domain.id + 10**6)
        ),
        "message_id": Case(
            str(theirs.message_id), "00000000-0000-4000-8000-000000000000"
        ),
        "bounce_id": Case(str(bounce.id), str(bounce.id + 10**6)),
        "stream_id": Case("globex-news", "no-such-stream"),
        "webhook_id": Case(str(hook.id), str(hook.id + 10**6)),
        "ref": Case(str(template.id), str(template.id + 10**6)),
        "rule_id": Case(str(rule.id), str(rule.id + 10**6)),
        # Inbound routes name an inbound message's ID (prefix-specific case).
        "messages/inbound:message_id": Case(
            str(inbound.message_id), "00000000-0000-4000-8000-000000000000"
        ),
    }
    # Strings that must never appear in my answers.
    secrets = [
        "Globex secret",
        "carol@globex-people.example.org",
        str(theirs.message_id),
        "hooks.globex.example.com",
        other_tenant.domain.name,
        other_tenant.server.name,
        "globex-news",
        "Globex template",
        "globex-welcome",
        "globex-rival.example.net",
        "Globex inbound",
    ]
    return tenant, other_tenant, cases, secrets


def routes() -> list[tuple[URLPattern, list[str]]]:
    out = []
    for pattern in urlpatterns:
        view = getattr(pattern.callback, "view_class", None)
        if str(pattern.pattern) in UNSCOPED:
            continue
        assert view is not None, f"{pattern.pattern}: not a class view; add a case"
        methods = [m for m in METHODS if hasattr(view, m)]
        out.append((pattern, methods))
    return out


def headers_for(pattern: URLPattern, tenant) -> dict[str, str]:
    auth = pattern.callback.view_class.authentication_classes[0].__name__
    return (
        tenant.account_headers if auth.startswith("Account") else tenant.server_headers
    )


def case_for(cases: dict[str, Case], pattern: URLPattern, param: str) -> Case | None:
    """The case for ``param``; a ``<route prefix>:<param>`` entry wins, for
    parameters whose meaning depends on the route (outbound vs inbound IDs)."""
    prefix = str(pattern.pattern).split("/<", 1)[0]
    return cases.get(f"{prefix}:{param}") or cases.get(param)


def path_with(pattern: URLPattern, values: dict[str, str]) -> str:
    path = "/" + str(pattern.pattern)
    for name, converter in pattern.pattern.converters.items():
        kind = "int" if type(converter).__name__ == "IntConverter" else "str"
        path = path.replace(f"<{kind}:{name}>", values[name])
    return path


def call(api, method: str, path: str, headers: dict[str, str]):
    body = json.dumps(BODY) if method in ("post", "put", "patch") else ""
    return api.generic(
        method.upper(),
        path,
        body,
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        **headers,
    )


def normalised(response, ident: str) -> tuple[int, object]:
    """Status and body, the ID quoted in an error message replaced by <ID>."""
    try:
        body = response.json()
    except ValueError:
        return response.status_code, response.content.decode()
    if isinstance(body, dict) and isinstance(body.get("Message"), str):
        pattern = rf"(?<![\w-]){re.escape(ident)}(?![\w-])"
        body = {**body, "Message": re.sub(pattern, "<ID>", body["Message"])}
    return response.status_code, body


def snapshot(other) -> dict:
    """Everything of the other tenant an endpoint could change or delete."""
    server = Server.objects.get(id=other.server.id)
    return {
        "server": (server.name, server.retention_days),
        "domains": list(
            Domain.objects.filter(account=other.account).values_list(
                "id", "name", "return_path_domain"
            )
        ),
        "messages": Message.objects.filter(server=other.server).count(),
        "templates": list(
            Template.objects.filter(server=other.server).values_list(
                "id", "name", "subject", "text_body"
            )
        ),
        "inbound_rules": list(
            InboundRule.objects.filter(server=other.server).values_list("id", "rule")
        ),
        "inbound": list(
            InboundMessage.objects.filter(server=other.server).values_list(
                "id", "status", "attempts"
            )
        ),
        "bounces": list(
            Bounce.objects.filter(server=other.server).values_list("id", "inactive")
        ),
        "suppressions": sorted(
            Suppression.objects.filter(server=other.server).values_list(
                "email", flat=True
            )
        ),
        "webhooks": list(
            Webhook.objects.filter(server=other.server).values_list("id", "url")
        ),
        "streams": sorted(
            MessageStream.objects.filter(server=other.server).values_list(
                "stream_id", "name"
            )
        ),
    }


def test_every_api_route_with_an_id_treats_another_tenants_id_as_missing(api, world):
    tenant, other, cases, _ = world
    before = snapshot(other)
    checked = []
    for pattern, methods in routes():
        params = list(pattern.pattern.converters)
        if not params:
            continue
        unknown = [p for p in params if case_for(cases, pattern, p) is None]
        assert not unknown, f"/{pattern.pattern}: add a cross-tenant case for {unknown}"
        theirs = {p: case_for(cases, pattern, p).other for p in params}
        nobody = {p: case_for(cases, pattern, p).missing for p in params}
        for method in methods:
            headers = headers_for(pattern, tenant)
            got = call(api, method, path_with(pattern, theirs), headers)
            want = call(api, method, path_with(pattern, nobody), headers)
            assert got.status_code < 500, (method, pattern.pattern, got.content)
            assert not 200 <= want.status_code < 300, (method, pattern.pattern)
            ident = case_for(cases, pattern, params[-1])
            assert normalised(got, ident.other) == normalised(want, ident.missing), (
                method,
                str(pattern.pattern),
            )
            checked.append((method, str(pattern.pattern)))
    assert snapshot(other) == before  # nothing of theirs changed or vanished
    assert len(checked) >= 18, checked


def test_no_list_endpoint_shows_another_tenants_data(api, world):
    tenant, other, _, secrets = world
    checked = []
    for pattern, methods in routes():
        if pattern.pattern.converters or "get" not in methods:
            continue
        path = "/" + str(pattern.pattern) + "?count=500&offset=0"
        response = call(api, "get", path, headers_for(pattern, tenant))
        assert response.status_code == 200, (path, response.content)
        body = response.content.decode()
        for secret in secrets:
            assert secret not in body, (path, secret)
        checked.append(path)
    assert len(checked) >= 15, checked


def test_the_other_tenant_does_see_its_own_objects(api, world):
    """The IDs above are real: their owner gets them (so the 404s mean something)."""
    _, other, cases, _ = world
    for pattern, methods in routes():
        params = list(pattern.pattern.converters)
        if not params or "get" not in methods:
            continue
        path = path_with(
            pattern, {p: case_for(cases, pattern, p).other for p in params}
        )
        path += "?count=50&offset=0"  # detail lists (opens, clicks) need paging
        response = call(api, "get", path, headers_for(pattern, other))
        assert response.status_code == 200, (path, response.content[:300])

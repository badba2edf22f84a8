"""Bad input in the web UI: another account's IDs on every page (enumerated from
``web.urls``) answer exactly as missing ones, and tenant-controlled strings
with script payloads are escaped on every page."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, reverse

from accounts.models import (
    Account,
    Domain,
    Membership,
    MessageStream,
    Server,
    ServerToken,
)
from bounces.models import Bounce, Suppression
from inbound.models import InboundMessage
from inbound.services.receive import inbound_receive
from messages.models import Message, MessageEvent, Recipient
from templating.services.crud import template_create
from web.urls import app_name, urlpatterns
from webhooks.models import Webhook
from webhooks.services.config import WebhookInput, webhook_create

from .conftest import deliver, hard_bounce, send

pytestmark = pytest.mark.django_db

# Pages that carry no tenant object in their path.
UNSCOPED = {"index", "login", "logout", "invite_accept"}
FORM = {
    "email": "carol@example.org",
    "emails": "x@example.org",
    "name": "t",
    "retention_days": 9,
    "role": "admin",
    "bounce_hook_url": "https://attacker.example.net/h",
}


def object_pages() -> list[URLPattern]:
    return [p for p in urlpatterns if p.name not in UNSCOPED]


def ids_for(
    w, *, server, account, message, bounce, token, domain, template, inbound
) -> dict:
    return {
        "server_id": server,
        "account_id": account,
        "message_id": message,
        "bounce_id": bounce,
        "token_id": token,
        "domain_id": domain,
        "template_id": template,
        "inbound:message_id": inbound,
        "action": "retry",
    }


def url_of(pattern: URLPattern, ids: dict) -> str:
    params = list(pattern.pattern.converters)
    missing = [p for p in params if p not in ids]
    assert not missing, f"{pattern.name}: add a cross-tenant case for {missing}"
    # Inbound pages name an inbound message, not an outbound one.
    scoped = {p: ids.get(f"{pattern.name.split('_')[0]}:{p}", ids[p]) for p in params}
    return reverse(f"{app_name}:{pattern.name}", kwargs=scoped)


def test_every_page_treats_another_accounts_ids_as_missing(world, settings):
    w = world
    other_token = ServerToken.objects.filter(server=w.other.server).first()
    mine = ServerToken.objects.filter(server=w.tenant.server).first()
    template = template_create(
        server=w.other.server, name="Globex", subject="s", text_body="t"
    )
    inbound_receive(
        mail_from="carol@globex.example.org",
        rcpt_tos=[f"{w.other.server.inbound_hash}@{settings.INBOUND_ADDRESS_DOMAIN}"],
        raw=b"From: carol@globex.example.org\r\nSubject: in\r\n\r\nx\r\n",
    )
    inbound = InboundMessage.objects.get(server=w.other.server)
    theirs = ids_for(
        w,
        server=w.other.server.id,
        account=w.other.account.id,
        message=w.other_message.message_id,
        bounce=w.other_bounce.id,
        token=other_token.id,
        domain=w.other.domain.id,
        template=template.id,
        inbound=inbound.message_id,
    )
    nobody = ids_for(
        w,
        server=10**7,
        account=10**7,
        message="00000000-0000-4000-8000-000000000000",
        bounce=10**7,
        token=10**7,
        domain=10**7,
        template=10**7,
        inbound="00000000-0000-4000-8000-000000000000",
    )
    # My server, their objects: must not be reachable through my server either.
    crossed = {
        **theirs,
        "server_id": w.tenant.server.id,
        "account_id": w.tenant.account.id,
    }
    crossed_nobody = {
        **nobody,
        "server_id": w.tenant.server.id,
        "account_id": w.tenant.account.id,
    }
    checked = 0
    for pattern in object_pages():
        for method in ("get", "post"):
            for got_ids, want_ids in ((theirs, nobody), (crossed, crossed_nobody)):
                got = getattr(w.client, method)(url_of(pattern, got_ids), FORM)
                want = getattr(w.client, method)(url_of(pattern, want_ids), FORM)
                if got_ids is crossed and set(pattern.pattern.converters) <= {
                    "server_id",
                    "account_id",
                }:
                    continue  # that is simply my own page
                assert got.status_code == want.status_code, (
                    method,
                    pattern.name,
                    got.status_code,
                    want.status_code,
                )
                assert got.status_code in (404, 405), (method, pattern.name)
                checked += 1
    assert checked >= 30
    # Nothing of theirs changed.
    w.other_bounce.refresh_from_db()
    assert w.other_bounce.inactive
    assert not ServerToken.objects.filter(
        server=w.other.server, revoked_at__isnull=False
    ).exists()
    assert Server.objects.get(id=w.other.server.id).bounce_hook_url == ""
    assert not Membership.objects.filter(account=w.other.account).exists()
    assert mine.revoked_at is None


# --- XSS ---------------------------------------------------------------------------

PAYLOAD = '"\'><script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
RAW_MARKERS = (b"<script>window.__xss", b"<img src=x onerror")


def poison(w, settings) -> dict:
    """Every tenant-controlled string the UI shows, set to the payload (through
    ``update()``: whatever path a value took into the database)."""
    t = w.tenant
    message = send(t, to="dora@example.org", tag="t", metadata={"k": "v"})
    deliver(message, "dora@example.org")
    bounce = hard_bounce(t, send(t, to="erin@example.org"), "erin@example.org")
    Account.objects.filter(id=t.account.id).update(name=PAYLOAD)
    Server.objects.filter(id=t.server.id).update(
        name=PAYLOAD,
        bounce_hook_url="https://x.example/" + PAYLOAD,
        delivery_hook_url="javascript:alert(1)//" + PAYLOAD,
        inbound_hook_url=PAYLOAD,
    )
    Message.objects.filter(server=t.server).update(
        subject=PAYLOAD,
        from_header=f"{PAYLOAD} <{t.sender}>",
        to_header=PAYLOAD,
        cc_header=PAYLOAD,
        bcc_header=PAYLOAD,
        recipients_text=PAYLOAD,
        reply_to=PAYLOAD,
        tag=PAYLOAD,
        metadata={PAYLOAD: PAYLOAD},
        attachment_names=[PAYLOAD],
        header_message_id=PAYLOAD,
    )
    Recipient.objects.filter(message__server=t.server).update(last_reply=PAYLOAD)
    MessageEvent.objects.filter(message__server=t.server).update(
        details={"DeliveryMessage": PAYLOAD, PAYLOAD: PAYLOAD}
    )
    Bounce.objects.filter(server=t.server).update(
        details=PAYLOAD,
        description=PAYLOAD,
        subject=PAYLOAD,
        from_header=PAYLOAD,
        tag=PAYLOAD,
        email=PAYLOAD,
    )
    for n, row in enumerate(Suppression.objects.filter(server=t.server)):
        Suppression.objects.filter(id=row.id).update(email=f"{n}{PAYLOAD}")
    MessageStream.objects.filter(server=t.server).update(
        name=PAYLOAD, description=PAYLOAD
    )
    ServerToken.objects.filter(server=t.server).update(name=PAYLOAD)
    Domain.objects.filter(account=t.account).update(
        name=PAYLOAD, return_path_domain=PAYLOAD
    )
    hook = webhook_create(
        server=t.server, data=WebhookInput(url="https://hooks.example.com/h")
    )
    Webhook.objects.filter(id=hook.id).update(url=PAYLOAD)
    template = template_create(
        server=t.server, name="x", subject="x", text_body="x", html_body="<p>x</p>"
    )
    type(template).objects.filter(id=template.id).update(
        name=PAYLOAD, subject=PAYLOAD, text_body=PAYLOAD, alias="pay-load"
    )
    inbound_receive(
        mail_from="mallory@example.net",
        rcpt_tos=[f"{t.server.inbound_hash}@{settings.INBOUND_ADDRESS_DOMAIN}"],
        raw=(
            f"From: {PAYLOAD} <mallory@example.net>\r\nSubject: {PAYLOAD}\r\n"
            f"X-Spam-Status: {PAYLOAD}\r\n\r\n{PAYLOAD}\r\n"
        ).encode(),
    )
    inbound = InboundMessage.objects.get(server=t.server)
    return {
        "message": message,
        "bounce": bounce,
        "template": template,
        "inbound": inbound,
    }


def test_script_payloads_in_every_field_are_escaped_on_every_page(world, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    w = world
    seeded = poison(w, settings)
    token = ServerToken.objects.filter(server=w.tenant.server).first()
    ids = ids_for(
        w,
        server=w.tenant.server.id,
        account=w.tenant.account.id,
        message=seeded["message"].message_id,
        bounce=seeded["bounce"].id,
        token=token.id,
        domain=w.tenant.domain.id,
        template=seeded["template"].id,
        inbound=seeded["inbound"].message_id,
    )
    pages = [reverse("web:index")]
    for pattern in object_pages():
        if pattern.name in {"message_html", "message_raw"}:
            continue  # the message itself: sandboxed / text/plain (test_security)
        pages.append(url_of(pattern, ids))
    fetched = 0
    # Reflected too: every filter a page might read, set to the payload.
    query = urlencode(
        {k: PAYLOAD for k in ("q", "tag", "status", "stream", "type", "email", "page")}
    )
    for url in pages + [f"{page}?{query}" for page in pages]:
        response = w.client.get(url)
        if response.status_code == 405:
            continue  # POST-only actions render nothing
        # An unknown ?stream= is a 404 page; anything else renders.
        assert response.status_code in ((200, 404) if "?" in url else (200,)), (
            url,
            response.status_code,
        )
        if response.streaming:  # the suppression CSV: a download, never HTML
            assert response["Content-Type"].startswith("text/csv")
            assert response["Content-Disposition"].startswith("attachment")
            b"".join(response.streaming_content)
            continue
        for marker in RAW_MARKERS:
            assert marker not in response.content, (url, marker)
        fetched += 1
    assert fetched >= 9
    # And the payload is really shown (escaped), not just absent.
    page = w.client.get(reverse("web:activity", args=[w.tenant.server.id]))
    assert b"&lt;script&gt;window.__xss=1&lt;/script&gt;" in page.content

"""The Inbound page in a real browser: a message sent with smtplib to the MX
(real socket) shows up in the list; its detail page shows the parsed fields and
attachments; Retry and Bypass work from the page."""

from __future__ import annotations

import smtplib

import pytest
from playwright.sync_api import Page, expect

from bounces.bounce_mx import bounce_mx_controller
from inbound.models import InboundMessage, InboundRule
from tests.factories import make_tenant
from tests.inbound.conftest import fixture_eml, inbound_address

from .conftest import make_user
from .test_browser import browser, page, shot, sign_in  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
Status = InboundMessage.Status


@pytest.fixture
def mx():
    controller = bounce_mx_controller(host="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def smtp_send(mx, address: str, raw: bytes, sender: str = "ana@example.org") -> None:
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as client:
        client.ehlo("mail.example.org")
        client.sendmail(sender, [address], raw)


def test_an_smtp_message_shows_in_the_inbound_page_and_can_be_retried(
    page: Page,  # noqa: F811 - the imported fixture
    live_server,
    mx,
):
    tenant = make_tenant("acme")
    user = make_user(tenant)
    tenant.server.inbound_hook_url = "http://127.0.0.1:9/hook"
    tenant.server.save()
    address = inbound_address(tenant, "ticket-42")
    smtp_send(
        mx,
        address,
        fixture_eml(
            "reply_with_attachments.eml", inbound_hash=tenant.server.inbound_hash
        ),
    )
    row = InboundMessage.objects.get(server=tenant.server)
    # The hook gave up (as the worker would after its retries).
    InboundMessage.objects.filter(id=row.id).update(
        status=Status.FAILED, attempts=11, hook_response="HTTP 500: boom"
    )

    sign_in(page, live_server, user.email)
    page.get_by_role("link", name="acme server").click()
    page.get_by_role("link", name="Inbound").click()
    expect(page.get_by_role("link", name="Inbound")).to_have_attribute(
        "aria-current", "page"
    )
    table = page.locator("#inbound-table")
    expect(table.get_by_text("Failed", exact=True)).to_be_visible()
    expect(table.get_by_text(address)).to_be_visible()
    shot(page, "inbound-list")
    table.get_by_role("link", name="ana@example.org").click()

    expect(page.get_by_role("heading", name="Re: Größe order")).to_be_visible()
    expect(page.locator("#inbound-status")).to_have_text("Failed")
    expect(page.get_by_text("Ana Müller")).to_be_visible()
    expect(page.locator("#attachments")).to_contain_text("invoice.pdf")
    expect(page.locator("#attachments")).to_contain_text("logo@example.org")
    expect(page.locator("#stripped-reply")).to_have_text(
        "Yes, the Größe L fits. Thanks!"
    )
    expect(page.locator("#hook-response")).to_have_text("HTTP 500: boom")
    expect(page.get_by_text("X-Spam-Score")).to_be_visible()
    shot(page, "inbound-detail")
    page.get_by_role("button", name="Retry inbound webhook").click()
    expect(page.locator("#inbound-status")).to_have_text("Queued")
    expect(page.get_by_text("Retry accepted")).to_be_visible()
    row.refresh_from_db()
    assert row.status == Status.QUEUED and row.attempts == 0


def test_a_blocked_message_can_be_bypassed_from_its_page(
    page: Page,  # noqa: F811 - the imported fixture
    live_server,
    mx,
):
    tenant = make_tenant("acme")
    user = make_user(tenant)
    InboundRule.objects.create(server=tenant.server, rule="spam.example")
    address = inbound_address(tenant)
    smtp_send(
        mx,
        address,
        b"From: x@spam.example\r\nTo: " + address.encode() + b"\r\n"
        b"Subject: Buy now\r\n\r\nCheap\r\n",
        sender="x@spam.example",
    )
    row = InboundMessage.objects.get(server=tenant.server)
    sign_in(page, live_server, user.email)
    page.goto(f"{live_server.url}/ui/servers/{tenant.server.id}/inbound?status=blocked")
    page.get_by_role("link", name="x@spam.example").click()
    expect(
        page.get_by_text("Blocked by the inbound rule 'spam.example'.")
    ).to_be_visible()
    page.get_by_role("button", name="Bypass rules and process").click()
    # No InboundHookUrl: processed at once.
    expect(page.locator("#inbound-status")).to_have_text("Processed")
    row.refresh_from_db()
    assert row.status == Status.PROCESSED

"""Inbound pages without a browser: tenant scoping and the POST actions."""

from __future__ import annotations

import pytest
from django.test import Client

from inbound.models import InboundMessage
from inbound.services import inbound_receive
from tests.inbound.conftest import inbound_address, simple_eml

from .conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def receive(tenant) -> InboundMessage:
    address = inbound_address(tenant)
    (row,) = inbound_receive(
        mail_from="ana@example.org",
        rcpt_tos=[address],
        raw=simple_eml(to=address, subject="Visible"),
    ).messages
    return row


def logged_in(tenant) -> Client:
    client = Client()
    assert client.login(username=make_user(tenant).email, password=PASSWORD)
    return client


def test_the_list_and_detail_render_for_a_member(tenant):
    row = receive(tenant)
    client = logged_in(tenant)
    listing = client.get(f"/ui/servers/{tenant.server.id}/inbound")
    assert listing.status_code == 200
    assert b"Visible" in listing.content
    assert b"ana@example.org" in listing.content
    assert b"Processed" in listing.content
    detail = client.get(f"/ui/servers/{tenant.server.id}/inbound/{row.message_id}")
    assert detail.status_code == 200
    assert b"Visible" in detail.content


def test_another_tenant_gets_404_everywhere(tenant, other_tenant):
    row = receive(tenant)
    InboundMessage.objects.filter(id=row.id).update(status=InboundMessage.Status.FAILED)
    intruder = logged_in(other_tenant)
    base = f"/ui/servers/{other_tenant.server.id}/inbound/{row.message_id}"
    assert intruder.get(base).status_code == 404
    assert intruder.post(base + "/retry").status_code == 404
    own = f"/ui/servers/{tenant.server.id}/inbound"
    assert intruder.get(own).status_code == 404
    row.refresh_from_db()
    assert row.status == InboundMessage.Status.FAILED


def test_a_retry_of_a_message_that_did_not_fail_is_explained(tenant):
    row = receive(tenant)
    client = logged_in(tenant)
    url = f"/ui/servers/{tenant.server.id}/inbound/{row.message_id}/retry"
    response = client.post(url, follow=True)
    assert b"Only failed messages can be retried" in response.content
    assert client.get(url).status_code == 405

"""Unmodified postmarker drives the domains API of a live server (only the base
URL changed), DNS verification included."""

from __future__ import annotations

import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError


@pytest.fixture
def client(live_server, tenant):
    client = PostmarkClient(
        server_token=tenant.server_token,
        account_token=tenant.account_token,
        root_api_url=live_server.url + "/",
    )
    yield client
    # Close keep-alive sockets: each one holds a server thread and its database
    # connection, which would block dropping the test database.
    client.session.close()


@pytest.mark.django_db(transaction=True)
def test_postmarker_manages_and_verifies_a_domain(client, tenant, dns_zone):
    domain = client.domains.create(Name="mail.acme.test")
    assert domain.Name == "mail.acme.test"
    assert domain.DKIMVerified is False
    names = [d.Name for d in client.domains.all()]
    assert names == [tenant.domain.name, "mail.acme.test"]

    domain.edit(ReturnPathDomain="pm-bounces.mail.acme.test")
    assert domain.ReturnPathDomain == "pm-bounces.mail.acme.test"

    dns_zone.add_txt(domain.DKIMPendingHost, domain.DKIMPendingTextValue)
    dns_zone.add_cname("pm-bounces.mail.acme.test", "pm.mtasv.localhost")
    assert domain.verifydkim()["DKIMVerified"] is True
    assert domain.verifyreturnpath()["ReturnPathDomainVerified"] is True
    assert client.domains.get(domain.ID).DKIMHost == domain.DKIMPendingHost

    assert domain.delete() == "Domain mail.acme.test removed."
    with pytest.raises(ClientError) as excinfo:
        client.domains.get(domain.ID)
    assert excinfo.value.error_code == 510


@pytest.mark.django_db(transaction=True)
def test_postmarker_reads_and_edits_the_server(client, tenant):
    server = client.server.get()
    assert server.ID == tenant.server.id
    server.edit(Color="Blue", TrackOpens=True)
    again = client.server.get()
    assert (again.Color, again.TrackOpens) == ("Blue", True)


@pytest.mark.django_db(transaction=True)
def test_postmarker_cannot_read_another_accounts_domain(client, other_tenant):
    with pytest.raises(ClientError) as excinfo:
        client.domains.get(other_tenant.domain.id)
    assert excinfo.value.error_code == 510

"""Tenancy services called directly, as the web UI and commands do."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Domain, Server
from postmark_clone.errors import ApplicationError

pytestmark = pytest.mark.django_db


def test_a_refused_update_leaves_the_server_object_untouched(tenant):
    services.server_create(account=tenant.account, name="Taken")
    with pytest.raises(ApplicationError) as excinfo:
        services.server_update(server=tenant.server, name="Taken", color="Blue")
    assert excinfo.value.code == 603
    assert (tenant.server.name, tenant.server.color) == ("acme server", "Purple")
    tenant.server.refresh_from_db()
    assert tenant.server.name == "acme server"


def test_server_update_saves_only_the_given_fields(tenant):
    Server.objects.filter(id=tenant.server.id).update(track_opens=True)
    services.server_update(server=tenant.server, color="orange")
    tenant.server.refresh_from_db()
    assert tenant.server.color == "Orange"
    assert tenant.server.track_opens is True  # the stale in-memory False not written


def test_server_delete_is_safe_to_call_twice(tenant):
    services.server_delete(server=tenant.server)
    services.server_delete(server=tenant.server)
    assert not Server.objects.filter(id=tenant.server.id).exists()


def test_verify_services_return_the_domain_with_the_dns_result(tenant, dns_zone):
    domain = tenant.domain
    services.domain_update(domain=domain, return_path_domain=f"rp.{domain.name}")
    dns_zone.add_txt(domain.dkim_host, domain.dkim_text_value)
    dns_zone.add_cname(f"rp.{domain.name}", "pm.mtasv.localhost")
    assert services.domain_verify_dkim(domain=domain).dkim_verified is True
    assert services.domain_verify_return_path(domain=domain).return_path_verified
    fresh = Domain.objects.get(id=domain.id)
    assert fresh.dkim_verified and fresh.return_path_verified
    # Calling again changes nothing.
    assert services.domain_verify_dkim(domain=domain).dkim_verified is True

"""Account API: ``/domains`` with real DNS verification against a local DNS server."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Domain

pytestmark = pytest.mark.django_db

DETAIL_KEYS = {
    "ID",
    "Name",
    "SPFVerified",
    "SPFHost",
    "SPFTextValue",
    "DKIMVerified",
    "WeakDKIM",
    "DKIMHost",
    "DKIMTextValue",
    "DKIMPendingHost",
    "DKIMPendingTextValue",
    "DKIMRevokedHost",
    "DKIMRevokedTextValue",
    "SafeToRemoveRevokedKeyFromDNS",
    "DKIMUpdateStatus",
    "ReturnPathDomain",
    "ReturnPathDomainVerified",
    "ReturnPathDomainCNAMEValue",
}


@pytest.fixture
def domain(api, tenant) -> dict:
    """A domain created through the API (so it has its own fresh DKIM key)."""
    response = api.send_json(
        "POST",
        "/domains",
        {"Name": "mail.acme.test", "ReturnPathDomain": "pm-bounces.mail.acme.test"},
        **tenant.account_headers,
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_domain_gets_its_own_pending_dkim_key(api, tenant, domain, settings):
    assert set(domain) == DETAIL_KEYS
    row = Domain.objects.get(id=domain["ID"])
    assert row.account == tenant.account
    assert domain["Name"] == "mail.acme.test"
    assert domain["DKIMVerified"] is False
    assert domain["DKIMUpdateStatus"] == "Pending"
    assert domain["DKIMHost"] == "" and domain["DKIMTextValue"] == ""
    assert domain["DKIMPendingHost"] == f"{row.dkim_selector}._domainkey.mail.acme.test"
    assert domain["DKIMPendingTextValue"] == f"k=rsa; p={row.dkim_public_key}"
    assert "PRIVATE KEY" in row.dkim_private_key
    assert "PRIVATE" not in str(domain)
    assert domain["ReturnPathDomain"] == "pm-bounces.mail.acme.test"
    assert domain["ReturnPathDomainVerified"] is False
    assert domain["ReturnPathDomainCNAMEValue"] == settings.RETURN_PATH_CNAME_TARGET
    assert domain["SPFHost"] == "mail.acme.test"
    assert domain["SPFTextValue"].startswith("v=spf1 ")
    other = api.send_json(
        "POST", "/domains", {"Name": "other.acme.test"}, **tenant.account_headers
    ).json()
    # RSA-2048 per domain: a different key for each one.
    assert other["DKIMPendingTextValue"] != domain["DKIMPendingTextValue"]
    assert len(row.dkim_public_key) > 350


def test_domain_names_are_normalised(api, tenant):
    body = api.send_json(
        "POST", "/domains", {"name": " News.Acme.TEST. "}, **tenant.account_headers
    ).json()
    assert body["Name"] == "news.acme.test"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 514),
        ({"Name": ""}, 514),
        ({"Name": 5}, 514),
        ({"Name": "a" * 300 + ".test"}, 515),
        ({"Name": "localhost"}, 516),
        ({"Name": "bad_name.example.com"}, 516),
        ({"Name": "http://example.com"}, 516),
        ({"Name": "ok.test", "ReturnPathDomain": "bounces.elsewhere.test"}, 511),
        ({"Name": "ok.test", "ReturnPathDomain": "ok.test"}, 511),
    ],
)
def test_create_rejects_bad_input_with_postmark_codes(api, tenant, body, code):
    response = api.send_json("POST", "/domains", body, **tenant.account_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert Domain.objects.filter(account=tenant.account).count() == 1


def test_create_rejects_a_domain_the_account_already_has(api, tenant):
    response = api.send_json(
        "POST", "/domains", {"Name": tenant.domain.name}, **tenant.account_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 512


def test_list_pages_and_counts(api, tenant, domain):
    services.domain_create(account=tenant.account, name="third.acme.test")
    body = api.send_json(
        "GET", "/domains?Count=2&Offset=1", **tenant.account_headers
    ).json()
    assert body["TotalCount"] == 3
    assert [d["Name"] for d in body["Domains"]] == ["mail.acme.test", "third.acme.test"]
    assert set(body["Domains"][0]) == {
        "ID",
        "Name",
        "SPFVerified",
        "DKIMVerified",
        "WeakDKIM",
        "ReturnPathDomainVerified",
    }


def test_list_rejects_bad_paging(api, tenant):
    response = api.send_json("GET", "/domains?count=1000", **tenant.account_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 511


def test_list_never_shows_another_accounts_domains(api, tenant, other_tenant):
    body = api.send_json("GET", "/domains", **tenant.account_headers).json()
    assert [d["ID"] for d in body["Domains"]] == [tenant.domain.id]
    assert body["TotalCount"] == 1


def test_list_query_count_is_fixed(api, tenant, django_assert_num_queries):
    for i in range(4):
        services.domain_create(account=tenant.account, name=f"d{i}.acme.test")
    # token lookup, page, count
    with django_assert_num_queries(3):
        response = api.send_json("GET", "/domains", **tenant.account_headers)
    assert len(response.json()["Domains"]) == 5


def test_get_put_and_delete_a_domain(api, tenant, domain):
    url = f"/domains/{domain['ID']}"
    assert api.send_json("GET", url, **tenant.account_headers).json() == domain
    changed = api.send_json(
        "PUT",
        url,
        {"ReturnPathDomain": "Bounce.Mail.Acme.Test"},
        **tenant.account_headers,
    )
    assert changed.status_code == 200
    assert changed.json()["ReturnPathDomain"] == "bounce.mail.acme.test"
    bad = api.send_json(
        "PUT", url, {"ReturnPathDomain": "x.other.test"}, **tenant.account_headers
    )
    assert bad.json()["ErrorCode"] == 511
    empty = api.send_json("PUT", url, {}, **tenant.account_headers)
    assert empty.json()["ErrorCode"] == 511
    deleted = api.send_json("DELETE", url, **tenant.account_headers)
    assert deleted.json() == {
        "ErrorCode": 0,
        "Message": "Domain mail.acme.test removed.",
    }
    assert not Domain.objects.filter(id=domain["ID"]).exists()
    assert (
        api.send_json("GET", url, **tenant.account_headers).json()["ErrorCode"] == 510
    )


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("PUT", "/verifyDkim"),
        ("PUT", "/verifyReturnPath"),
    ],
)
def test_other_tenant_gets_not_found(api, tenant, other_tenant, method, suffix):
    response = api.send_json(
        method,
        f"/domains/{other_tenant.domain.id}{suffix}",
        {"ReturnPathDomain": f"rp.{other_tenant.domain.name}"},
        **tenant.account_headers,
    )
    assert response.status_code == 422
    assert response.json() == {
        "ErrorCode": 510,
        "Message": f"Domain '{other_tenant.domain.id}' was not found.",
    }
    assert Domain.objects.get(id=other_tenant.domain.id).return_path_domain == ""


def publish_dkim(zone, domain: dict) -> None:
    zone.add_txt(domain["DKIMPendingHost"], domain["DKIMPendingTextValue"])


def test_verify_dkim_finds_the_published_key(api, tenant, domain, dns_zone):
    publish_dkim(dns_zone, domain)
    response = api.send_json(
        "PUT", f"/domains/{domain['ID']}/verifyDkim", **tenant.account_headers
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["DKIMVerified"] is True
    assert body["DKIMUpdateStatus"] == "Verified"
    assert body["DKIMHost"] == domain["DKIMPendingHost"]
    assert body["DKIMTextValue"] == domain["DKIMPendingTextValue"]
    assert body["DKIMPendingHost"] == "" and body["DKIMPendingTextValue"] == ""
    assert (domain["DKIMPendingHost"], "TXT") in dns_zone.queries
    assert Domain.objects.get(id=domain["ID"]).dkim_verified_at is not None


def test_verify_dkim_accepts_folded_whitespace_and_extra_tags(
    api, tenant, domain, dns_zone
):
    key = domain["DKIMPendingTextValue"].removeprefix("k=rsa; p=")
    folded = " ".join(key[i : i + 60] for i in range(0, len(key), 60))
    dns_zone.add_txt(domain["DKIMPendingHost"], f"v=DKIM1; h=sha256; k=rsa; p={folded}")
    body = api.send_json(
        "PUT", f"/domains/{domain['ID']}/verifydkim", **tenant.account_headers
    ).json()
    assert body["DKIMVerified"] is True


def test_verify_dkim_rejects_a_missing_or_different_key(api, tenant, domain, dns_zone):
    url = f"/domains/{domain['ID']}/verifyDkim"
    missing = api.send_json("PUT", url, **tenant.account_headers).json()
    assert missing["DKIMVerified"] is False
    assert missing["DKIMPendingHost"] == domain["DKIMPendingHost"]
    dns_zone.add_txt(domain["DKIMPendingHost"], "k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC")
    wrong = api.send_json("PUT", url, **tenant.account_headers).json()
    assert wrong["DKIMVerified"] is False


def test_verify_dkim_notices_a_removed_record(api, tenant, domain, dns_zone):
    url = f"/domains/{domain['ID']}/verifyDkim"
    publish_dkim(dns_zone, domain)
    assert api.send_json("PUT", url, **tenant.account_headers).json()["DKIMVerified"]
    dns_zone.clear()
    body = api.send_json("PUT", url, **tenant.account_headers).json()
    assert body["DKIMVerified"] is False
    assert body["DKIMUpdateStatus"] == "Pending"


def test_verify_return_path_checks_the_cname_target(
    api, tenant, domain, dns_zone, settings
):
    url = f"/domains/{domain['ID']}/verifyReturnPath"
    dns_zone.add_cname("pm-bounces.mail.acme.test", "elsewhere.example.net")
    wrong = api.send_json("PUT", url, **tenant.account_headers).json()
    assert wrong["ReturnPathDomainVerified"] is False
    dns_zone.add_cname(
        "pm-bounces.mail.acme.test", settings.RETURN_PATH_CNAME_TARGET.upper() + "."
    )
    right = api.send_json("PUT", url, **tenant.account_headers)
    assert right.status_code == 200
    assert right.json()["ReturnPathDomainVerified"] is True
    assert Domain.objects.get(id=domain["ID"]).return_path_verified is True
    # Changing the Return-Path domain needs a new verification.
    changed = api.send_json(
        "PUT",
        f"/domains/{domain['ID']}",
        {"ReturnPathDomain": "rp.mail.acme.test"},
        **tenant.account_headers,
    ).json()
    assert changed["ReturnPathDomainVerified"] is False


def test_verify_return_path_without_a_return_path_domain(api, tenant, dns_zone):
    url = f"/domains/{tenant.domain.id}/verifyReturnPath"
    body = api.send_json("PUT", url, **tenant.account_headers).json()
    assert body["ReturnPathDomain"] == ""
    assert body["ReturnPathDomainVerified"] is False
    assert dns_zone.queries == []


def test_an_unreachable_dns_server_is_a_clear_error_not_a_500(
    api, tenant, domain, dns_zone, settings
):
    publish_dkim(dns_zone, domain)
    api.send_json(
        "PUT", f"/domains/{domain['ID']}/verifyDkim", **tenant.account_headers
    )
    dns_zone.stop()  # nothing answers on that port any more
    settings.DNS_TIMEOUT_SECONDS = 0.5
    response = api.send_json(
        "PUT", f"/domains/{domain['ID']}/verifyDkim", **tenant.account_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 709
    assert "try again" in response.json()["Message"]
    # A DNS outage does not un-verify a verified domain.
    assert Domain.objects.get(id=domain["ID"]).dkim_verified is True


def test_a_server_token_cannot_manage_domains(api, tenant):
    response = api.send_json("GET", "/domains", **tenant.server_headers)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10

"""Postmark's account API (``X-Postmark-Account-Token``): servers and domains.

Another account's server or domain is answered exactly like a missing one
(ErrorCode 601 / 510, HTTP 422 as Postmark answers).
"""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.models import Domain, Server
from postmark_clone.errors import ApplicationError

from ..base import AccountApiView, query_param
from ..representations import (
    domain_input,
    domain_json,
    domain_list_json,
    paging,
    path_id,
    server_input,
    server_json,
)

SERVER_NOT_FOUND = 601
SERVER_PAGING = 600
DOMAIN_NOT_FOUND = 510
# Postmark documents no paging code for /domains; 511 is its "invalid fields".
DOMAIN_PAGING = 511


def _server_or_error(account, raw_id: str) -> Server:
    server_id = path_id(raw_id)
    server = (
        selectors.server_get(account=account, server_id=server_id)
        if server_id is not None
        else None
    )
    if server is None:
        raise ApplicationError(SERVER_NOT_FOUND, f"Server '{raw_id}' was not found.")
    return server


def _domain_or_error(account, raw_id: str) -> Domain:
    domain_id = path_id(raw_id)
    domain = (
        selectors.domain_get(account=account, domain_id=domain_id)
        if domain_id is not None
        else None
    )
    if domain is None:
        raise ApplicationError(DOMAIN_NOT_FOUND, f"Domain '{raw_id}' was not found.")
    return domain


class ServerListApi(AccountApiView):
    """``GET /servers?count&offset&name`` and ``POST /servers``."""

    def get(self, request: Request) -> Response:
        count, offset = paging(request, error_code=SERVER_PAGING)
        qs = selectors.server_list(
            account=self.account, name=query_param(request, "name")
        )
        servers = list(qs[offset : offset + count])
        return Response(
            {
                "TotalCount": qs.count(),
                "Servers": [server_json(server) for server in servers],
            }
        )

    def post(self, request: Request) -> Response:
        fields = server_input(request.data)
        name = fields.pop("name", "")
        created = services.server_create(account=self.account, name=name, **fields)
        # The only response that ever shows the token in full (it is stored hashed).
        return Response(server_json(created.obj, plaintext_tokens=[created.token]))


class ServerDetailApi(AccountApiView):
    """``GET``, ``PUT`` and ``DELETE /servers/{id}``."""

    def get(self, request: Request, server_id: str) -> Response:
        return Response(server_json(_server_or_error(self.account, server_id)))

    def put(self, request: Request, server_id: str) -> Response:
        server = _server_or_error(self.account, server_id)
        server = services.server_update(server=server, **server_input(request.data))
        return Response(server_json(server))

    def delete(self, request: Request, server_id: str) -> Response:
        server = _server_or_error(self.account, server_id)
        services.server_delete(server=server)
        return Response({"ErrorCode": 0, "Message": f"Server {server.name} removed."})


class DomainListApi(AccountApiView):
    """``GET /domains?count&offset`` and ``POST /domains``."""

    def get(self, request: Request) -> Response:
        count, offset = paging(request, error_code=DOMAIN_PAGING)
        qs = selectors.domain_list(account=self.account)
        domains = list(qs[offset : offset + count])
        return Response(
            {
                "TotalCount": qs.count(),
                "Domains": [domain_list_json(domain) for domain in domains],
            }
        )

    def post(self, request: Request) -> Response:
        fields = domain_input(request.data)
        domain = services.domain_create(
            account=self.account,
            name=fields.get("name", ""),
            return_path_domain=fields.get("return_path_domain", ""),
        )
        return Response(domain_json(domain))


class DomainDetailApi(AccountApiView):
    """``GET``, ``PUT`` (``{ReturnPathDomain}``) and ``DELETE /domains/{id}``."""

    def get(self, request: Request, domain_id: str) -> Response:
        return Response(domain_json(_domain_or_error(self.account, domain_id)))

    def put(self, request: Request, domain_id: str) -> Response:
        domain = _domain_or_error(self.account, domain_id)
        fields = domain_input(request.data)
        if "return_path_domain" not in fields:
            raise ApplicationError(511, "Provide ReturnPathDomain to update a domain.")
        domain = services.domain_update(
            domain=domain, return_path_domain=fields["return_path_domain"]
        )
        return Response(domain_json(domain))

    def delete(self, request: Request, domain_id: str) -> Response:
        domain = _domain_or_error(self.account, domain_id)
        services.domain_delete(domain=domain)
        return Response({"ErrorCode": 0, "Message": f"Domain {domain.name} removed."})


class DomainVerifyDkimApi(AccountApiView):
    """``PUT /domains/{id}/verifyDkim``: look the DKIM record up in DNS now."""

    def put(self, request: Request, domain_id: str) -> Response:
        domain = _domain_or_error(self.account, domain_id)
        return Response(domain_json(services.domain_verify_dkim(domain=domain)))


class DomainVerifyReturnPathApi(AccountApiView):
    """``PUT /domains/{id}/verifyReturnPath``: look the Return-Path CNAME up now."""

    def put(self, request: Request, domain_id: str) -> Response:
        domain = _domain_or_error(self.account, domain_id)
        return Response(domain_json(services.domain_verify_return_path(domain=domain)))


# Paths arrive lower-cased (api.middleware), so "verifyDkim" matches "verifydkim".
urlpatterns = [
    path("servers", ServerListApi.as_view()),
    path("servers/<str:server_id>", ServerDetailApi.as_view()),
    path("domains", DomainListApi.as_view()),
    path("domains/<str:domain_id>", DomainDetailApi.as_view()),
    path("domains/<str:domain_id>/verifydkim", DomainVerifyDkimApi.as_view()),
    path(
        "domains/<str:domain_id>/verifyreturnpath",
        DomainVerifyReturnPathApi.as_view(),
    ),
]

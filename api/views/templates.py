"""Templates API (``/templates*``) and templated sends (``/email/withTemplate``,
``/email/batchWithTemplates``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from messages.email import OutboundEmail
from postmark_clone.errors import ApplicationError
from templating import selectors, services
from templating.models import Template
from templating.services import TemplateRequest

from ..auth import TestModeServer
from ..base import AccountApiView, ServerApiView, query_param
from ..representations import paging
from ..serializers import parse_email, send_result
from .email import (
    MAX_BATCH_BYTES,
    _check_size,
    _json_body,
    _test_result,
    batch_answer,
    batch_check_length,
    batch_parse,
    batch_test_answer,
)

TEMPLATE_QUERY = 1100
TEMPLATE_NOT_FOUND = 1101
TEMPLATE_TYPES = {"all": None, "standard": "Standard", "layout": "Layout"}


# --- JSON shapes -------------------------------------------------------------------


def template_summary(t: Template) -> dict[str, Any]:
    return {
        "Active": t.active,
        "TemplateId": t.pk,
        "Name": t.name,
        "Alias": t.alias,
        "TemplateType": t.template_type,
        "LayoutTemplate": t.layout_alias,
    }


def template_json(t: Template) -> dict[str, Any]:
    return {
        "TemplateId": t.pk,
        "Name": t.name,
        "Alias": t.alias,
        "Subject": t.subject if t.template_type == Template.Type.STANDARD else None,
        "HtmlBody": t.html_body or None,
        "TextBody": t.text_body or None,
        "AssociatedServerId": t.server_id,
        "Active": t.active,
        "TemplateType": t.template_type,
        "LayoutTemplate": t.layout_alias,
    }


def _saved_json(t: Template) -> dict[str, Any]:
    return {
        "TemplateId": t.pk,
        "Name": t.name,
        "Active": t.active,
        "Alias": t.alias,
        "TemplateType": t.template_type,
        "LayoutTemplate": t.layout_alias,
    }


# --- input -------------------------------------------------------------------------


def _object(request: Request) -> dict[str, Any]:
    data = _json_body(request)
    if not isinstance(data, dict):
        raise ApplicationError(
            402, "Received invalid JSON input: expected a JSON object."
        )
    # Postmark's documented keys, matched in any case.
    return {str(k).lower(): v for k, v in data.items()}


def _optional_string(data: dict, key: str) -> str | None:
    value = data.get(key.lower())
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApplicationError(1122, f"The '{key}' field must be a string.")
    return value


def _template_type(data: dict) -> str | None:
    value = _optional_string(data, "TemplateType")
    if value in (None, ""):
        return None
    for choice in Template.Type.values:
        if value.lower() == choice.lower():
            return choice
    raise ApplicationError(
        1122, "The 'TemplateType' must be either 'Standard' or 'Layout'."
    )


def _raw_ref(request: Request) -> str:
    """The ``{templateIdOrAlias}`` path segment in its original case (the router
    sees a lower-cased path; aliases are case-sensitive)."""
    return unquote(request.path.rstrip("/").rsplit("/", 1)[-1])


def _template_or_error(server, request: Request) -> Template:
    ref = _raw_ref(request)
    template = selectors.template_get(server=server, ref=ref)
    if template is None:
        raise ApplicationError(
            TEMPLATE_NOT_FOUND, f"The template '{ref}' was not found on this server."
        )
    return template


# --- /templates --------------------------------------------------------------------


class TemplateListApi(ServerApiView):
    """``GET /templates?Count&Offset&TemplateType&LayoutTemplate``, ``POST /templates``."""

    def get(self, request: Request) -> Response:
        count, offset = paging(request, error_code=TEMPLATE_QUERY)
        raw_type = query_param(request, "templatetype", "template_type", default="all")
        if raw_type.lower() not in TEMPLATE_TYPES:
            raise ApplicationError(
                TEMPLATE_QUERY,
                "The 'TemplateType' filter must be All, Standard or Layout.",
            )
        qs = selectors.template_list(
            server=self.server,
            template_type=TEMPLATE_TYPES[raw_type.lower()],
            layout_alias=query_param(request, "layouttemplate", "layout_template")
            or None,
        )
        page = list(qs[offset : offset + count])
        return Response(
            {
                "TotalCount": qs.count(),
                "Templates": [template_summary(t) for t in page],
            }
        )

    def post(self, request: Request) -> Response:
        data = _object(request)
        template = services.template_create(
            server=self.server,
            name=_optional_string(data, "Name") or "",
            alias=_optional_string(data, "Alias"),
            subject=_optional_string(data, "Subject") or "",
            html_body=_optional_string(data, "HtmlBody") or "",
            text_body=_optional_string(data, "TextBody") or "",
            template_type=_template_type(data) or Template.Type.STANDARD,
            layout_alias=_optional_string(data, "LayoutTemplate"),
        )
        return Response(_saved_json(template))


class TemplateDetailApi(ServerApiView):
    """``GET``, ``PUT`` and ``DELETE /templates/{templateIdOrAlias}``."""

    def get(self, request: Request, ref: str) -> Response:
        return Response(template_json(_template_or_error(self.server, request)))

    def put(self, request: Request, ref: str) -> Response:
        template = _template_or_error(self.server, request)
        data = _object(request)
        if not data:
            raise ApplicationError(1109, "The request contains no template data.")
        template = services.template_update(
            template=template,
            name=_optional_string(data, "Name"),
            alias=_optional_string(data, "Alias"),
            subject=_optional_string(data, "Subject"),
            html_body=_optional_string(data, "HtmlBody"),
            text_body=_optional_string(data, "TextBody"),
            template_type=_template_type(data),
            layout_alias=_optional_string(data, "LayoutTemplate"),
        )
        return Response(_saved_json(template))

    def delete(self, request: Request, ref: str) -> Response:
        template = _template_or_error(self.server, request)
        template_id = template.pk
        services.template_delete(template=template)
        return Response({"ErrorCode": 0, "Message": f"Template {template_id} removed."})


def _part(result) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "ContentIsValid": result.valid,
        "ValidationErrors": result.errors,
        "RenderedContent": result.rendered,
    }


class TemplateValidateApi(ServerApiView):
    """``POST /templates/validate``: parse and test-render without saving."""

    def post(self, request: Request) -> Response:
        data = _object(request)
        model = data.get("testrendermodel")
        if model is not None and not isinstance(model, dict):
            raise ApplicationError(
                1122, "The 'TestRenderModel' field must be a JSON object."
            )
        inline = data.get("inlinecssforhtmltestrender")
        result = services.template_validate(
            server=self.server,
            subject=_optional_string(data, "Subject"),
            html_body=_optional_string(data, "HtmlBody"),
            text_body=_optional_string(data, "TextBody"),
            test_model=model,
            inline_css=inline is not False,
            template_type=_template_type(data) or Template.Type.STANDARD,
            layout_alias=_optional_string(data, "LayoutTemplate"),
        )
        return Response(
            {
                "AllContentIsValid": result.all_valid,
                "HtmlBody": _part(result.html_body),
                "TextBody": _part(result.text_body),
                "Subject": _part(result.subject),
                "SuggestedTemplateModel": result.suggested_model,
            }
        )


class TemplatePushApi(AccountApiView):
    """``PUT /templates/push`` (account token): copy aliased templates between
    two of the account's servers."""

    def put(self, request: Request) -> Response:
        data = _object(request)
        items = services.templates_push(
            account=self.account,
            source_server_id=data.get("sourceserverid"),
            destination_server_id=data.get("destinationserverid"),
            perform_changes=data.get("performchanges") is True,
        )
        return Response(
            {
                "TotalCount": len(items),
                "Templates": [
                    {
                        "Action": item.action,
                        "TemplateId": item.template_id,
                        "Alias": item.alias,
                        "Name": item.name,
                        "TemplateType": item.template_type,
                    }
                    for item in items
                ],
            }
        )


# --- templated sends ---------------------------------------------------------------

_BODY_KEYS = ("subject", "htmlbody", "textbody")
_TEMPLATE_KEYS = ("templateid", "templatealias", "templatemodel", "inlinecss")


def parse_templated_email(payload: Any) -> tuple[OutboundEmail, TemplateRequest]:
    """One message of ``/email/withTemplate`` or ``/email/batchWithTemplates``."""
    if not isinstance(payload, dict):
        raise ApplicationError(
            402, "Received invalid JSON input: expected a JSON object."
        )
    lowered = {str(k).lower(): v for k, v in payload.items()}
    for key, name in zip(_BODY_KEYS, ("Subject", "HtmlBody", "TextBody"), strict=True):
        if lowered.get(key) not in (None, ""):
            raise ApplicationError(
                1123,
                f"The '{name}' field is not allowed when sending with a template; "
                "the template provides it.",
            )
    template_id = lowered.get("templateid")
    alias = lowered.get("templatealias")
    ref: int | str
    if template_id not in (None, "", 0, "0"):
        # Both given: TemplateId wins (postmark-api.md §2.1).
        if isinstance(template_id, bool) or not (
            isinstance(template_id, int)
            or (isinstance(template_id, str) and template_id.isdigit())
        ):
            raise ApplicationError(1101, services.NOT_FOUND)
        ref = int(template_id)
    elif isinstance(alias, str) and alias:
        ref = alias
    else:
        raise ApplicationError(
            1101,
            "Provide either 'TemplateId' or 'TemplateAlias' to send with a template.",
        )
    model = lowered.get("templatemodel")
    if model is None:
        raise ApplicationError(1120, "The 'TemplateModel' field is required.")
    if model == []:
        model = {}  # PHP's empty associative array
    if not isinstance(model, dict):
        raise ApplicationError(1122, "The 'TemplateModel' field must be a JSON object.")
    inline = lowered.get("inlinecss")
    base = {k: v for k, v in payload.items() if str(k).lower() not in _TEMPLATE_KEYS}
    email = parse_email(base)
    return email, TemplateRequest(ref=ref, model=model, inline_css=inline is not False)


class EmailWithTemplateApi(ServerApiView):
    allow_test_token = True

    def post(self, request: Request) -> Response:
        _check_size(request, settings.MAX_MESSAGE_BYTES)
        email, template = parse_templated_email(_json_body(request))
        if isinstance(request.auth, TestModeServer):
            # No tenant, so no template to render: answer as Postmark's test token.
            return Response(_test_result(_with_placeholder_body(email)))
        result = services.template_message_send_batch(
            server=self.server, items=[(email, template)]
        )[0]
        if isinstance(result, ApplicationError):
            raise result
        return Response(send_result(result))


def _with_placeholder_body(email: OutboundEmail) -> OutboundEmail:
    email.text_body = email.text_body or " "
    return email


class EmailBatchWithTemplatesApi(ServerApiView):
    allow_test_token = True

    def post(self, request: Request) -> Response:
        _check_size(request, MAX_BATCH_BYTES)
        body = _json_body(request)
        messages = None
        if isinstance(body, dict):
            messages = {str(k).lower(): v for k, v in body.items()}.get("messages")
        if not isinstance(messages, list):
            raise ApplicationError(
                402,
                'Received invalid JSON input: expected {"Messages": [ ... ]}.',
            )
        batch_check_length(messages)
        items = batch_parse(messages, parse_templated_email)
        if isinstance(request.auth, TestModeServer):
            return batch_test_answer(
                items, email_of=lambda item: _with_placeholder_body(item[0])
            )
        return batch_answer(
            services.template_message_send_batch(server=self.server, items=items)
        )


urlpatterns = [
    path("email/withtemplate", EmailWithTemplateApi.as_view()),
    path("email/batchwithtemplates", EmailBatchWithTemplatesApi.as_view()),
    path("templates", TemplateListApi.as_view()),
    # Before templates/{ref}: "validate" and "push" are not template aliases.
    path("templates/validate", TemplateValidateApi.as_view()),
    path("templates/push", TemplatePushApi.as_view()),
    path("templates/<str:ref>", TemplateDetailApi.as_view()),
]

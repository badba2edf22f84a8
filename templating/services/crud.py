"""Creating, editing and deleting templates, with Postmark's checks and codes."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from accounts.models import Server
from postmark_clone.errors import ApplicationError

from .. import selectors
from ..models import Template
from ..mustache import Compiled, TemplateSyntaxError, compile_template

MAX_TEMPLATES_PER_SERVER = 100
MAX_NAME = 200
MAX_ALIAS = 100
MAX_SUBJECT = 2000
MAX_BODY = 5 * 1024 * 1024
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
CONTENT_RE = re.compile(r"\{\{\{\s*@content\s*\}\}\}")
NOT_FOUND = (
    "The 'TemplateId' associated with this request is not valid or was not found."
)

UNSET: Any = object()


def _check_alias(alias: str | None) -> str | None:
    if alias in (None, ""):
        return None
    if not isinstance(alias, str) or not ALIAS_RE.match(alias):
        raise ApplicationError(
            1122,
            "The 'Alias' must start with a letter and contain only letters, digits, "
            "'.', '_' and '-'.",
        )
    if len(alias) > MAX_ALIAS:
        raise ApplicationError(
            1121, f"The 'Alias' is longer than {MAX_ALIAS} characters."
        )
    return alias


def _check_part(field_name: str, source: str, limit: int) -> Compiled:
    if len(source) > limit:
        raise ApplicationError(
            1121, f"The '{field_name}' is longer than {limit} characters."
        )
    try:
        return compile_template(source)
    except TemplateSyntaxError as exc:
        raise ApplicationError(
            1122,
            f"The '{field_name}' could not be parsed: {exc.message} "
            f"(line {exc.line}, character {exc.column}).",
        ) from exc


def _resolve_layout(*, server: Server, alias: str | None) -> Template | None:
    if alias in (None, ""):
        return None
    layout = Template.objects.filter(
        server=server, alias=alias, template_type=Template.Type.LAYOUT
    ).first()
    if layout is None:
        raise ApplicationError(
            1101, f"The layout template '{alias}' was not found on this server."
        )
    return layout


def _check_content(template: Template) -> None:
    """Everything Postmark checks on save; raises ``ApplicationError``."""
    if not template.name or not template.name.strip():
        raise ApplicationError(1120, "The 'Name' field is required.")
    if len(template.name) > MAX_NAME:
        raise ApplicationError(
            1121, f"The 'Name' is longer than {MAX_NAME} characters."
        )
    if not template.html_body and not template.text_body:
        raise ApplicationError(
            1120, "Provide at least one of the 'HtmlBody' or 'TextBody' fields."
        )
    if template.template_type == Template.Type.LAYOUT:
        if template.subject:
            raise ApplicationError(1123, "A layout template cannot have a 'Subject'.")
        if template.layout_id:
            raise ApplicationError(
                1123, "A layout template cannot itself use a 'LayoutTemplate'."
            )
        for field_name, body in (
            ("HtmlBody", template.html_body),
            ("TextBody", template.text_body),
        ):
            if body and len(CONTENT_RE.findall(body)) != 1:
                raise ApplicationError(
                    1131,
                    f"The layout's '{field_name}' must contain the content "
                    "placeholder {{{@content}}} exactly once.",
                )
    elif not template.subject:
        raise ApplicationError(1120, "The 'Subject' field is required.")
    _check_part("Subject", template.subject, MAX_SUBJECT)
    _check_part("HtmlBody", template.html_body, MAX_BODY)
    _check_part("TextBody", template.text_body, MAX_BODY)


def _save(template: Template) -> Template:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:
        raise ApplicationError(
            1122, f"The alias '{template.alias}' is already used by another template."
        ) from exc
    return template


def template_create(
    *,
    server: Server,
    name: str,
    subject: str = "",
    html_body: str = "",
    text_body: str = "",
    alias: str | None = None,
    template_type: str = Template.Type.STANDARD,
    layout_alias: str | None = None,
    test_render_model: dict | None = None,
) -> Template:
    """Create a standard template or a layout after Postmark's checks (1105 when
    the server already has ``MAX_TEMPLATES_PER_SERVER``). Not idempotent."""
    if template_type not in Template.Type.values:
        raise ApplicationError(
            1122, "The 'TemplateType' must be either 'Standard' or 'Layout'."
        )
    if selectors.template_count(server=server) >= MAX_TEMPLATES_PER_SERVER:
        raise ApplicationError(
            1105,
            f"This server already has {MAX_TEMPLATES_PER_SERVER} templates, the limit.",
        )
    layout = None
    if layout_alias not in (None, ""):
        if template_type == Template.Type.LAYOUT:
            raise ApplicationError(
                1123, "A layout template cannot itself use a 'LayoutTemplate'."
            )
        layout = _resolve_layout(server=server, alias=layout_alias)
    template = Template(
        server=server,
        name=(name or "").strip(),
        alias=_check_alias(alias),
        template_type=template_type,
        subject=subject or "",
        html_body=html_body or "",
        text_body=text_body or "",
        layout=layout,
        test_render_model=test_render_model or {},
    )
    _check_content(template)
    return _save(template)


def template_update(
    *,
    template: Template,
    name: Any = UNSET,
    alias: Any = UNSET,
    subject: Any = UNSET,
    html_body: Any = UNSET,
    text_body: Any = UNSET,
    template_type: Any = UNSET,
    layout_alias: Any = UNSET,
    test_render_model: Any = UNSET,
) -> Template:
    """Change the given fields (``UNSET`` or ``None`` keeps a field; ``""``
    clears the alias, the layout or a body). ``TemplateType`` cannot change."""
    if template_type not in (UNSET, None, "") and template_type != (
        template.template_type
    ):
        raise ApplicationError(
            1123, "The 'TemplateType' of an existing template cannot be changed."
        )
    if name not in (UNSET, None):
        template.name = str(name).strip()
    if alias not in (UNSET, None):
        template.alias = _check_alias(alias)
    for attr, value in (
        ("subject", subject),
        ("html_body", html_body),
        ("text_body", text_body),
    ):
        if value not in (UNSET, None):
            setattr(template, attr, value)
    if layout_alias not in (UNSET, None):
        if layout_alias == "":
            template.layout = None
        elif template.template_type == Template.Type.LAYOUT:
            raise ApplicationError(
                1123, "A layout template cannot itself use a 'LayoutTemplate'."
            )
        else:
            template.layout = _resolve_layout(
                server=template.server, alias=layout_alias
            )
    if test_render_model not in (UNSET, None):
        template.test_render_model = test_render_model
    _check_content(template)
    template.version = F("version") + 1
    _save(template)
    template.refresh_from_db(fields=["version", "updated_at"])
    return template


def template_delete(*, template: Template) -> None:
    """Delete a template; a layout that standard templates use is refused (1130)."""
    if (
        template.template_type == Template.Type.LAYOUT
        and Template.objects.filter(layout=template).exists()
    ):
        raise ApplicationError(
            1130,
            "This layout is used by other templates; change their 'LayoutTemplate' "
            "before deleting it.",
        )
    template.delete()

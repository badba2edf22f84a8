"""Writes and rendering for templates, and templated sends.

Templated sends (``/email/withTemplate``, ``/email/batchWithTemplates``) render
here and then go through ``messages.services.message_send_batch``, the same path
as plain sends: archive, delivery, webhooks and statistics need nothing extra.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from accounts.models import Account, Server
from messages.email import OutboundEmail
from messages.services import SendResult, message_send_batch
from postmark_clone.errors import ApplicationError

from . import css, selectors
from .models import Template
from .mustache import (
    Compiled,
    RenderError,
    TemplateSyntaxError,
    compile_template,
    render,
    suggested_model,
)

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
RENDERING_FAILED = "TemplateRenderingFailed"

UNSET: Any = object()


# --- create / edit / delete --------------------------------------------------------


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


# --- rendering ---------------------------------------------------------------------


@dataclass
class Rendered:
    subject: str
    html_body: str | None
    text_body: str | None


def _render_parts(
    *,
    subject: Compiled | None,
    html: Compiled | None,
    text: Compiled | None,
    layout_html: Compiled | None,
    layout_text: Compiled | None,
    model: dict,
    inline: bool,
) -> Rendered:
    rendered_html = render(html, model) if html is not None else None
    if rendered_html is not None and layout_html is not None:
        rendered_html = render(layout_html, model, rendered_html)
    if rendered_html is not None and inline:
        rendered_html = css.inline_css(rendered_html)
    rendered_text = render(text, model) if text is not None else None
    if rendered_text is not None and layout_text is not None:
        rendered_text = render(layout_text, model, rendered_text)
    return Rendered(
        subject=render(subject, model) if subject is not None else "",
        html_body=rendered_html,
        text_body=rendered_text,
    )


@dataclass
class TemplateRequest:
    """The template part of a templated send, as the edge parsed it."""

    ref: int | str
    model: dict = field(default_factory=dict)
    inline_css: bool = True


def _apply(
    *, server: Server, email: OutboundEmail, request: TemplateRequest, found: dict
) -> OutboundEmail:
    key = str(request.ref)
    if key not in found:
        found[key] = selectors.template_for_send(server=server, ref=request.ref)
    compiled = found[key]
    if compiled is None:
        raise ApplicationError(1101, NOT_FOUND)
    if compiled.template_type == Template.Type.LAYOUT:
        raise ApplicationError(
            1123, "A layout template cannot be sent; send a standard template."
        )
    layout = compiled.layout
    try:
        rendered = _render_parts(
            subject=compiled.subject,
            html=compiled.html,
            text=compiled.text,
            layout_html=layout.html if layout else None,
            layout_text=layout.text if layout else None,
            model=request.model,
            inline=request.inline_css,
        )
    except RenderError as exc:
        # Postmark accepts the message and reports a TemplateRenderingFailed
        # bounce for it (postmark-api.md §4); bounce simulation records exactly
        # that (a bounce record, its webhook, no delivery).
        return dataclasses.replace(
            email,
            subject=f"Template rendering failed (template {compiled.id})",
            html_body=None,
            text_body=f"The template could not be rendered: {exc}",
            bounce_type=RENDERING_FAILED,
        )
    return dataclasses.replace(
        email,
        subject=rendered.subject,
        html_body=rendered.html_body,
        text_body=rendered.text_body,
    )


def template_message_send_batch(
    *,
    server: Server,
    items: list[tuple[OutboundEmail, TemplateRequest] | ApplicationError],
) -> list[SendResult | ApplicationError]:
    """Render each item's template with its model, then accept all of them
    through ``message_send_batch`` (one result or error per item, in order).

    Each template is looked up once per call (and usually comes from the
    per-process cache). Not idempotent: every call sends new messages."""
    found: dict = {}
    emails: list[OutboundEmail | ApplicationError] = []
    for item in items:
        if isinstance(item, ApplicationError):
            emails.append(item)
            continue
        email, request = item
        try:
            emails.append(
                _apply(server=server, email=email, request=request, found=found)
            )
        except ApplicationError as exc:
            emails.append(exc)
    return message_send_batch(server=server, emails=emails)


# --- validate ----------------------------------------------------------------------


@dataclass
class PartResult:
    valid: bool
    errors: list[dict]
    rendered: str | None


@dataclass
class ValidationResult:
    all_valid: bool
    subject: PartResult | None
    html_body: PartResult | None
    text_body: PartResult | None
    suggested_model: dict


def _compile_part(source: str | None) -> tuple[Compiled | None, list[dict]]:
    if source is None:
        return None, []
    try:
        return compile_template(source), []
    except TemplateSyntaxError as exc:
        return None, [
            {"Message": exc.message, "Line": exc.line, "CharacterPosition": exc.column}
        ]


def template_validate(
    *,
    server: Server,
    subject: str | None,
    html_body: str | None,
    text_body: str | None,
    test_model: dict | None,
    inline_css: bool = True,
    template_type: str = Template.Type.STANDARD,
    layout_alias: str | None = None,
) -> ValidationResult:
    """Parse and test-render content without storing it (``POST
    /templates/validate``). Parts not given come back as ``None``. Read-only."""
    if template_type not in Template.Type.values:
        raise ApplicationError(
            1122, "The 'TemplateType' must be either 'Standard' or 'Layout'."
        )
    layout = None
    if layout_alias and template_type == Template.Type.STANDARD:
        row = _resolve_layout(server=server, alias=layout_alias)
        layout = selectors.template_for_send(server=server, ref=row.pk)
    compiled: dict[str, Compiled | None] = {}
    errors: dict[str, list[dict]] = {}
    for part, source in (
        ("subject", subject),
        ("html", html_body),
        ("text", text_body),
    ):
        compiled[part], errors[part] = _compile_part(source)
    if template_type == Template.Type.LAYOUT:
        for part, source in (("html", html_body), ("text", text_body)):
            if source is not None and len(CONTENT_RE.findall(source)) != 1:
                errors[part].append(
                    {
                        "Message": "A layout must contain the content placeholder "
                        "{{{@content}}} exactly once.",
                        "Line": 1,
                        "CharacterPosition": 1,
                    }
                )
    model = test_model if isinstance(test_model, dict) else {}
    if not model:
        model = suggested_model(*(c for c in compiled.values() if c is not None))
    results: dict[str, PartResult | None] = {}
    for part, source in (
        ("subject", subject),
        ("html", html_body),
        ("text", text_body),
    ):
        if source is None:
            results[part] = None
            continue
        rendered = None
        if not errors[part] and compiled[part] is not None:
            layout_part = None
            if layout is not None and part != "subject":
                layout_part = layout.html if part == "html" else layout.text
            try:
                rendered = render(compiled[part], model)
                if layout_part is not None:
                    rendered = render(layout_part, model, rendered)
                if part == "html" and inline_css:
                    rendered = css.inline_css(rendered)
            except RenderError as exc:
                errors[part].append(
                    {"Message": str(exc), "Line": 0, "CharacterPosition": 0}
                )
                rendered = None
        results[part] = PartResult(
            valid=not errors[part], errors=errors[part], rendered=rendered
        )
    parts_for_model = [c for c in compiled.values() if c is not None]
    if layout is not None:
        parts_for_model += [c for c in (layout.html, layout.text) if c is not None]
    return ValidationResult(
        all_valid=all(r.valid for r in results.values() if r is not None),
        subject=results["subject"],
        html_body=results["html"],
        text_body=results["text"],
        suggested_model=suggested_model(*parts_for_model),
    )


def template_preview(*, template: Template) -> Rendered | str:
    """The template rendered with its stored test model (web UI preview), or the
    reason it cannot be rendered. Read-only."""
    try:
        layout = template.layout
        return _render_parts(
            subject=compile_template(template.subject),
            html=compile_template(template.html_body) if template.html_body else None,
            text=compile_template(template.text_body) if template.text_body else None,
            layout_html=compile_template(layout.html_body)
            if layout and layout.html_body
            else None,
            layout_text=compile_template(layout.text_body)
            if layout and layout.text_body
            else None,
            model=template.test_render_model or {},
            inline=True,
        )
    except (TemplateSyntaxError, RenderError) as exc:
        return str(exc)


# --- push --------------------------------------------------------------------------


@dataclass
class PushItem:
    action: str
    template_id: int | None
    alias: str
    name: str
    template_type: str


def templates_push(
    *,
    account: Account,
    source_server_id: Any,
    destination_server_id: Any,
    perform_changes: bool,
) -> list[PushItem]:
    """Copy every aliased template of one of the account's servers to another
    (create, or edit the one with the same alias; layouts first so standard
    templates can point at them). With ``perform_changes`` false, only report.
    Both servers must belong to ``account`` (601 otherwise)."""
    servers = {}
    for label, server_id in (
        ("SourceServerID", source_server_id),
        ("DestinationServerID", destination_server_id),
    ):
        if isinstance(server_id, bool) or not isinstance(server_id, int | str):
            raise ApplicationError(601, f"The '{label}' is not a valid server id.")
        server = (
            Server.objects.filter(account=account, pk=int(server_id)).first()
            if str(server_id).isdigit()
            else None
        )
        if server is None:
            raise ApplicationError(601, f"The server in '{label}' was not found.")
        servers[label] = server
    source, dest = servers["SourceServerID"], servers["DestinationServerID"]
    rows = list(
        Template.objects.filter(server=source, alias__isnull=False)
        .select_related("layout")
        .order_by("id")
    )
    # Layouts first: a standard template's LayoutTemplate must exist on arrival.
    rows.sort(key=lambda t: t.template_type != Template.Type.LAYOUT)
    existing = {t.alias: t for t in Template.objects.filter(server=dest)}
    plan: list[tuple[Template, Template | None]] = []
    for row in rows:
        target = existing.get(row.alias)
        if target is not None and target.template_type != row.template_type:
            raise ApplicationError(
                1125,
                f"The template '{row.alias}' is a {row.template_type} template on the "
                f"source server but a {target.template_type} template on the "
                "destination.",
            )
        plan.append((row, target))
    if not plan:
        raise ApplicationError(1124, "There are no aliased templates to push.")
    items = []
    with transaction.atomic():
        for row, target in plan:
            template_id = target.pk if target is not None else None
            if perform_changes:
                layout = None
                if row.layout_id:
                    layout = Template.objects.filter(
                        server=dest, alias=row.layout.alias
                    ).first()
                if target is None:
                    target = Template(server=dest, alias=row.alias)
                else:
                    target.version = target.version + 1
                target.name = row.name
                target.template_type = row.template_type
                target.subject = row.subject
                target.html_body = row.html_body
                target.text_body = row.text_body
                target.layout = layout
                target.save()
                template_id = target.pk
            items.append(
                PushItem(
                    action="Edit" if row.alias in existing else "Create",
                    template_id=template_id,
                    alias=row.alias,
                    name=row.name,
                    template_type=row.template_type,
                )
            )
    return items

"""Rendering templates and templated sends.

Templated sends (``/email/withTemplate``, ``/email/batchWithTemplates``) render
here and then go through ``messages.services.message_send_batch``, the same path
as plain sends: archive, delivery, webhooks and statistics need nothing extra.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from accounts.models import Server
from messages.email import OutboundEmail
from messages.services import SendResult, message_send_batch
from postmark_clone.errors import ApplicationError

from .. import css, selectors
from ..models import Template
from ..mustache import Compiled, RenderError, render
from .crud import NOT_FOUND

RENDERING_FAILED = "TemplateRenderingFailed"


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

"""Test-rendering without storing: ``/templates/validate`` and the UI preview."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Server
from postmark_clone.errors import ApplicationError

from .. import css, selectors
from ..models import Template
from ..mustache import (
    Compiled,
    RenderError,
    TemplateSyntaxError,
    compile_template,
    render,
    suggested_model,
)
from .crud import CONTENT_RE, _resolve_layout
from .sending import Rendered, _render_parts


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

"""Templates: list per server, a template with its rendered preview, and the
create/edit form (admins only). Writes go through ``templating.services``, so
the UI and the API apply the same checks."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods

from postmark_clone.errors import ApplicationError
from templating import selectors, services
from templating.models import Template

from ..access import ServerAccess, require_admin, server_for_request
from .servers import PREVIEW_CSP

# Which form field shows an ApplicationError, by the words of its message.
_ERROR_FIELDS = (
    ("'Name'", "name"),
    ("'Alias'", "alias"),
    ("alias", "alias"),
    ("'Subject'", "subject"),
    ("'HtmlBody'", "html_body"),
    ("'TextBody'", "text_body"),
    ("layout", "layout"),
    ("'LayoutTemplate'", "layout"),
)


class TemplateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    alias = forms.CharField(
        label="Alias",
        max_length=100,
        required=False,
        help_text="Optional. Starts with a letter; letters, digits, '.', '_', '-'.",
    )
    template_type = forms.ChoiceField(
        label="Type", choices=Template.Type.choices, initial=Template.Type.STANDARD
    )
    layout = forms.ChoiceField(label="Layout", required=False)
    subject = forms.CharField(label="Subject", required=False, max_length=2000)
    html_body = forms.CharField(
        label="HTML body",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "mono"}),
    )
    text_body = forms.CharField(
        label="Text body",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
    )
    test_render_model = forms.CharField(
        label="Test model (JSON)",
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        help_text="Used for the preview.",
    )

    def __init__(self, *args, layouts=(), editing: Template | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["layout"].choices = [("", "No layout")] + [
            (t.alias, t.name) for t in layouts if t.alias
        ]
        if editing is not None:
            # Postmark: the type of a template never changes.
            self.fields["template_type"].disabled = True

    def clean_test_render_model(self) -> dict:
        raw = self.cleaned_data.get("test_render_model") or "{}"
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The test model must be a JSON object.")
        return value


def _template_or_404(access: ServerAccess, template_id: int) -> Template:
    template = selectors.template_get(server=access.server, ref=template_id)
    if template is None:
        raise Http404("No such template.")
    return template


@login_required
@require_GET
def template_list(request: HttpRequest, server_id: int) -> HttpResponse:
    access = server_for_request(request, server_id)
    templates = list(selectors.template_list(server=access.server))
    return render(
        request,
        "web/templates.html",
        {
            "access": access,
            "server": access.server,
            "tab": "templates",
            "templates": templates,
        },
    )


@login_required
@require_GET
def template_detail(
    request: HttpRequest, server_id: int, template_id: int
) -> HttpResponse:
    access = server_for_request(request, server_id)
    template = _template_or_404(access, template_id)
    preview = services.template_preview(template=template)
    return render(
        request,
        "web/template_detail.html",
        {
            "access": access,
            "server": access.server,
            "tab": "templates",
            "template": template,
            "preview": preview if not isinstance(preview, str) else None,
            "preview_error": preview if isinstance(preview, str) else None,
            "test_model": json.dumps(template.test_render_model, indent=2),
        },
    )


@login_required
@require_GET
@xframe_options_sameorigin
def template_preview_html(
    request: HttpRequest, server_id: int, template_id: int
) -> HttpResponse:
    """The rendered HTML alone, for the sandboxed preview iframe (same policy as
    message previews: no script, nothing remote)."""
    access = server_for_request(request, server_id)
    template = _template_or_404(access, template_id)
    preview = services.template_preview(template=template)
    if isinstance(preview, str) or preview.html_body is None:
        raise Http404("This template has no HTML to preview.")
    response = HttpResponse(preview.html_body, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = PREVIEW_CSP
    response["Referrer-Policy"] = "no-referrer"
    return response


def _attach_error(form: TemplateForm, exc: ApplicationError) -> None:
    for words, field_name in _ERROR_FIELDS:
        if words in exc.message:
            form.add_error(field_name, exc.message)
            return
    form.add_error(None, exc.message)


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(
    request: HttpRequest, server_id: int, template_id: int | None = None
) -> HttpResponse:
    """Create (no ``template_id``) or edit a template."""
    access = server_for_request(request, server_id)
    require_admin(access.role)
    template = _template_or_404(access, template_id) if template_id else None
    layouts = [
        t
        for t in selectors.template_layouts(server=access.server)
        if template is None or t.pk != template.pk
    ]
    initial = {}
    if template is not None:
        initial = {
            "name": template.name,
            "alias": template.alias or "",
            "template_type": template.template_type,
            "layout": template.layout_alias or "",
            "subject": template.subject,
            "html_body": template.html_body,
            "text_body": template.text_body,
            "test_render_model": json.dumps(template.test_render_model, indent=2),
        }
    if request.method == "POST":
        form = TemplateForm(
            request.POST, initial=initial, layouts=layouts, editing=template
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                if template is None:
                    template = services.template_create(
                        server=access.server,
                        name=data["name"],
                        alias=data["alias"] or None,
                        template_type=data["template_type"],
                        layout_alias=data["layout"] or None,
                        subject=data["subject"],
                        html_body=data["html_body"],
                        text_body=data["text_body"],
                        test_render_model=data["test_render_model"],
                    )
                    flash.success(request, f"Template “{template.name}” created.")
                else:
                    template = services.template_update(
                        template=template,
                        name=data["name"],
                        alias=data["alias"],
                        layout_alias=data["layout"],
                        subject=data["subject"],
                        html_body=data["html_body"],
                        text_body=data["text_body"],
                        test_render_model=data["test_render_model"],
                    )
                    flash.success(request, f"Template “{template.name}” saved.")
            except ApplicationError as exc:
                _attach_error(form, exc)
            else:
                return redirect(
                    reverse("web:template_detail", args=[access.server.id, template.pk])
                )
        status = 400
    else:
        form = TemplateForm(initial=initial, layouts=layouts, editing=template)
        status = 200
    return render(
        request,
        "web/template_form.html",
        {
            "access": access,
            "server": access.server,
            "tab": "templates",
            "template": template,
            "form": form,
        },
        status=status,
    )

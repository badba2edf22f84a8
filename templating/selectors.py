"""Reads for templates. Every lookup takes the server (tenant) and filters by it:
another server's template is indistinguishable from a missing one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import Server
from postmark_clone.lookup_cache import LookupCache

from .models import Template
from .mustache import Compiled, compile_template


def _by_ref(qs: QuerySet[Template], ref: int | str) -> QuerySet[Template]:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return qs.filter(pk=int(ref))
    return qs.filter(alias=ref)


def template_get(*, server: Server, ref: int | str) -> Template | None:
    """The server's template with id ``ref`` (an int or digits) or alias ``ref``."""
    if ref in ("", None):
        return None
    return _by_ref(
        Template.objects.select_related("layout").filter(server=server), ref
    ).first()


def template_list(
    *,
    server: Server,
    template_type: str | None = None,
    layout_alias: str | None = None,
) -> QuerySet[Template]:
    """The server's templates, oldest first; optionally only one ``TemplateType``
    or only the standard templates using the layout ``layout_alias``."""
    qs = Template.objects.filter(server=server).select_related("layout")
    if template_type:
        qs = qs.filter(template_type=template_type)
    if layout_alias:
        qs = qs.filter(layout__alias=layout_alias)
    return qs.order_by("id")


def template_layouts(*, server: Server) -> QuerySet[Template]:
    return Template.objects.filter(
        server=server, template_type=Template.Type.LAYOUT
    ).order_by("name", "id")


def template_count(*, server: Server) -> int:
    return Template.objects.filter(server=server).count()


# --- the send path's cache -----------------------------------------------------


@dataclass(frozen=True)
class CompiledTemplate:
    """A template as the send path needs it: compiled parts, its layout's too."""

    id: int
    alias: str | None
    template_type: str
    subject: Compiled
    html: Compiled | None
    text: Compiled | None
    layout: CompiledTemplate | None


_rows: LookupCache[CompiledTemplate] = LookupCache("send-templates")
_compiled: OrderedDict[str, Compiled] = OrderedDict()
_compiled_lock = threading.Lock()
MAX_COMPILED = 4000


def _compile_cached(source: str) -> Compiled:
    """Parsing is the costly part of rendering: keep each compiled source, so a
    TTL expiry costs one query and no parse. Keyed by the source text itself,
    so no edit path (API, UI, admin, push) can leave a stale tree behind."""
    key = source
    hit = _compiled.get(key)
    if hit is not None:
        return hit
    compiled = compile_template(source)
    with _compiled_lock:
        if len(_compiled) >= MAX_COMPILED:
            _compiled.popitem(last=False)
        _compiled[key] = compiled
    return compiled


def _snapshot(row: Template) -> CompiledTemplate:
    return CompiledTemplate(
        id=row.pk,
        alias=row.alias,
        template_type=row.template_type,
        subject=_compile_cached(row.subject),
        html=_compile_cached(row.html_body) if row.html_body else None,
        text=_compile_cached(row.text_body) if row.text_body else None,
        layout=_snapshot(row.layout) if row.layout_id and row.layout else None,
    )


def template_for_send(*, server: Server, ref: int | str) -> CompiledTemplate | None:
    """The compiled template (and layout) for a send, from this process's cache
    when it is younger than ``LOOKUP_CACHE_SECONDS``; ``None`` when the server
    has no such template. Stored templates always compile (they were validated
    on save), so this raises nothing."""
    key = (server.pk, str(ref))

    def load() -> CompiledTemplate | None:
        row = template_get(server=server, ref=ref)
        return _snapshot(row) if row is not None else None

    return _rows.get(key, load)


def template_cache_clear() -> None:
    _rows.clear()

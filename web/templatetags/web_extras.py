"""Small display helpers for the web UI templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def as_id(value: object) -> int | None:
    """An integer id from event details (``"12"`` or ``12``), else ``None``."""
    text = str(value or "")
    return int(text) if text.isdigit() else None


@register.filter
def first_page_link(page) -> str:
    return page.link(1)


@register.filter
def recipients(value: str) -> str:
    """``a@x,b@y`` (Message.recipients_text) as ``a@x, b@y``; still auto-escaped."""
    return ", ".join(part for part in (value or "").split(",") if part)

"""Small display helpers for the web UI templates."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def recipients(value: str) -> str:
    """``a@x,b@y`` (Message.recipients_text) as ``a@x, b@y``; still auto-escaped."""
    return ", ".join(part for part in (value or "").split(",") if part)

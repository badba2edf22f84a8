"""Writes and rendering for templates, and templated sends.

Split by concern: ``crud`` (create, edit, delete), ``sending`` (rendering and
templated sends through ``messages.services.message_send_batch``, the same path
as plain sends), ``validation`` (``/templates/validate`` and the UI preview)
and ``push`` (copying templates between servers).
"""

from .crud import (
    MAX_TEMPLATES_PER_SERVER,
    NOT_FOUND,
    UNSET,
    template_create,
    template_delete,
    template_update,
)
from .push import PushItem, templates_push
from .sending import (
    RENDERING_FAILED,
    Rendered,
    TemplateRequest,
    template_message_send_batch,
)
from .validation import (
    PartResult,
    ValidationResult,
    template_preview,
    template_validate,
)

__all__ = [
    "MAX_TEMPLATES_PER_SERVER",
    "NOT_FOUND",
    "RENDERING_FAILED",
    "UNSET",
    "PartResult",
    "PushItem",
    "Rendered",
    "TemplateRequest",
    "ValidationResult",
    "template_create",
    "template_delete",
    "template_message_send_batch",
    "template_preview",
    "template_update",
    "template_validate",
    "templates_push",
]

"""A JSON parser as lenient as Postmark's clients need (§1: be lenient)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser

from .errors import PayloadTooLarge

# Content types we read as JSON. ``text/plain`` and the form type cover
# ``curl -d '{...}'`` without ``-H 'Content-Type: application/json'``; anything
# else that names a concrete non-JSON format (text/html, multipart/form-data,
# application/xml) is refused with a clear 415 rather than guessed at.
_JSON_LIKE = frozenset(
    {
        "application/json",
        "text/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    }
)


class LenientJSONParser(BaseParser):
    """Parse JSON bodies; an empty body, or a literal ``null``, is ``None``.

    Accepts ``application/json`` with or without a charset, ``*/*+json``, and a
    missing Content-Type (some Postmark clients omit it). Invalid JSON raises
    ``ParseError`` (Postmark ErrorCode 402); a non-JSON media type raises
    ``UnsupportedMediaType`` (HTTP 415).
    """

    media_type = "*/*"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        content_type = (media_type or "").split(";")[0].strip().lower()
        if (
            content_type
            and content_type not in _JSON_LIKE
            and not content_type.endswith("+json")
        ):
            raise UnsupportedMediaType(content_type)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if stream is None:
            raw = b""
        else:
            raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge(
                f"The request body is larger than the {limit}-byte limit."
            )
        if not raw or not raw.strip():
            return None
        try:
            return json.loads(raw)
        except RecursionError as exc:
            raise ParseError("the JSON is nested too deeply.") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"the body is not valid JSON ({exc}).") from exc


class LenientContentNegotiation(DefaultContentNegotiation):
    """An empty ``Accept`` header means "anything", like a missing one."""

    def get_accept_list(self, request: Any) -> list[str]:
        header = request.META.get("HTTP_ACCEPT") or "*/*"
        return [token.strip() for token in header.split(",")]

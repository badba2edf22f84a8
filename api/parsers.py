"""A JSON parser as lenient as Postmark's clients need (§1: be lenient)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class LenientJSONParser(BaseParser):
    """Parse JSON bodies; an empty body, or a literal ``null``, is ``None``.

    Accepts ``application/json`` with or without a charset, and also a missing
    Content-Type (postmark clients for some languages omit it on PUT/GET).
    """

    media_type = "*/*"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ):
        raw = stream.read() if stream is not None else b""
        if not raw or not raw.strip():
            return None
        content_type = (media_type or "").split(";")[0].strip().lower()
        if content_type and not (
            content_type == "application/json"
            or content_type.endswith("+json")
            or content_type == "text/json"
            or content_type == "text/plain"
        ):
            from rest_framework.exceptions import UnsupportedMediaType

            raise UnsupportedMediaType(content_type)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"the body is not valid JSON ({exc}).") from exc

"""The one error type services raise. Edges map it to HTTP JSON or SMTP replies."""

from __future__ import annotations


class ApplicationError(Exception):
    """A business or validation error with Postmark's numeric ``ErrorCode``.

    ``code`` is Postmark's ErrorCode (300 invalid request, 406 inactive recipient,
    ...). Services know nothing about HTTP; ``api.errors`` chooses the status.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ApplicationError({self.code}, {self.message!r})"

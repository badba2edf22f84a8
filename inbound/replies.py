"""Reply stripping: the only importer of ``quotequail`` (pure, no ORM)."""

from __future__ import annotations

import quotequail


def stripped_text_reply(text: str) -> str:
    """The new text of a reply, without the quoted message and its
    "On <date>, <someone> wrote:" / "-----Original Message-----" intro.

    ``""`` when the text quotes nothing (not a reply), like Postmark's
    ``StrippedTextReply``. quotequail recognises the common intro lines of
    Gmail, Outlook, Apple Mail and Thunderbird and ``>`` quoting."""
    if not text or not text.strip():
        return ""
    unwrapped = quotequail.unwrap(text)
    if unwrapped and "text_top" in unwrapped:
        return str(unwrapped["text_top"]).strip()
    if unwrapped is not None:
        return ""  # a bare forward: nothing new above it
    chunks = quotequail.quote(text)
    if len(chunks) < 2:
        return _before_quote_marks(text)
    # Everything before the first quoted chunk, minus the intro line that
    # quotequail leaves at the end of it.
    head = chunks[0][1] if chunks[0][0] else ""
    lines = head.rstrip().splitlines()
    if lines and (
        lines[-1].rstrip().endswith(":") or lines[-1].strip().startswith("-----")
    ):
        lines = lines[:-1]
    return "\n".join(lines).strip()


def _before_quote_marks(text: str) -> str:
    """Fallback for replies without an intro line: the text above the first
    ``>``-quoted line (RFC 3676 §4.5 quote marks), or ``""`` if none."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(">"):
            return "\n".join(lines[:index]).strip()
    return ""

"""The submitted-email value object shared by the HTTP API and SMTP submission."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    name: str
    content: bytes
    content_type: str
    content_id: str = ""  # without "cid:"; non-empty means inline


@dataclass
class OutboundEmail:
    """What a tenant asked us to send, after the edge parsed its wire format.

    The API fills the structured fields and ``message_send`` composes the MIME;
    SMTP submission fills ``raw`` (the client's own MIME, X-PM headers already
    read and stripped) and ``envelope_recipients``.
    """

    from_header: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    html_body: str | None = None
    text_body: str | None = None
    reply_to: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    tag: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    track_opens: bool | None = None
    track_links: str | None = None
    message_stream: str = "outbound"
    raw: bytes | None = None
    envelope_recipients: list[str] | None = None
    keep_message_id: bool = False
    # X-PM-Bounce-Type read by the SMTP edge (the API passes it in ``headers``):
    # simulate that bounce instead of delivering (bounce testing).
    bounce_type: str = ""

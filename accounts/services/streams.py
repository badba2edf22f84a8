"""Writes for message streams: create, edit, archive and unarchive.

The rules and ErrorCodes are Postmark's (postmark-api.md §3 "1220–1241" and §8):
at most ``MAX_STREAMS_PER_SERVER`` streams per server including the defaults and
archived ones, one inbound stream (created with the server, never through the
API), IDs that start with a letter and use ``[a-z0-9_-]``, and the three default
streams can never be archived.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from postmark_clone.errors import ApplicationError

from ..models import MessageStream, Server

MAX_STREAMS_PER_SERVER = 10
MAX_ID_LENGTH = 30
MAX_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 1000
# Created with every server (accounts.services.servers.DEFAULT_STREAMS); Postmark
# refuses to archive a server's default transactional, broadcast and inbound
# streams.
DEFAULT_STREAM_IDS = frozenset({"outbound", "inbound", "broadcast"})
RESERVED_IDS = frozenset({"all"})
_ID_RE = re.compile(r"[a-z][a-z0-9_-]*\Z")
_HTML_TAG_RE = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
# Which unsubscribe handling each type accepts; the first is the default.
# Broadcast streams must manage unsubscribes; others have nothing to manage.
_HANDLING_BY_TYPE: dict[str, tuple[str, ...]] = {
    MessageStream.Type.BROADCASTS: (
        MessageStream.UnsubscribeHandling.POSTMARK,
        MessageStream.UnsubscribeHandling.CUSTOM,
    ),
    MessageStream.Type.TRANSACTIONAL: (MessageStream.UnsubscribeHandling.NONE,),
    MessageStream.Type.INBOUND: (MessageStream.UnsubscribeHandling.NONE,),
}


class _Unset:
    """Marks an edit field the request did not mention."""


UNSET: Any = _Unset()


def _validated_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApplicationError(1222, "A valid 'ID' must be provided for the stream.")
    stream_id = value.strip()
    if stream_id.lower().startswith("pm-"):
        raise ApplicationError(
            1233, f"The stream ID '{stream_id}' may not start with 'pm-'."
        )
    if len(stream_id) > MAX_ID_LENGTH or not _ID_RE.match(stream_id):
        raise ApplicationError(
            1227,
            f"The stream ID '{stream_id}' is invalid: it must start with a "
            "lower-case letter, contain only lower-case letters, digits, '-' and "
            f"'_', and be at most {MAX_ID_LENGTH} characters.",
        )
    if stream_id in RESERVED_IDS:
        raise ApplicationError(1237, f"The stream ID '{stream_id}' is reserved.")
    return stream_id


def _validated_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApplicationError(1223, "A valid 'Name' must be provided for the stream.")
    name = value.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ApplicationError(
            1224,
            f"The stream 'Name' is {len(name)} characters long; the limit is "
            f"{MAX_NAME_LENGTH}.",
        )
    return name


def _validated_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApplicationError(1231, "The stream 'Description' must be a string.")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise ApplicationError(
            1231,
            f"The stream 'Description' is {len(value)} characters long; the limit "
            f"is {MAX_DESCRIPTION_LENGTH}.",
        )
    if _HTML_TAG_RE.search(value):
        raise ApplicationError(
            1234, "The stream 'Description' may not contain HTML tags."
        )
    return value


def _validated_type(value: Any) -> str:
    if isinstance(value, str):
        for choice in MessageStream.Type.values:
            if value.strip().lower() == choice.lower():
                if choice == MessageStream.Type.INBOUND:
                    raise ApplicationError(
                        1228,
                        "A server has exactly one inbound stream, created with "
                        "the server; another cannot be added.",
                    )
                return choice
    raise ApplicationError(
        1221,
        f"Invalid 'MessageStreamType' {value!r}: use Transactional or Broadcasts.",
    )


def _validated_handling(value: Any, *, stream_type: str) -> str:
    allowed = _HANDLING_BY_TYPE[stream_type]
    if value is None:
        return allowed[0]
    matched = None
    if isinstance(value, str):
        for choice in MessageStream.UnsubscribeHandling.values:
            if value.strip().lower() == choice.lower():
                matched = choice
    if matched is None:
        raise ApplicationError(
            1240,
            f"Invalid 'UnsubscribeHandlingType' {value!r}: use None, Postmark or "
            "Custom.",
        )
    if matched not in allowed:
        raise ApplicationError(
            1239,
            f"UnsubscribeHandlingType '{matched}' is not supported for "
            f"{stream_type} streams; use {' or '.join(allowed)}.",
        )
    return matched


def stream_create(
    *,
    server: Server,
    stream_id: Any,
    name: Any,
    stream_type: Any,
    description: Any = None,
    unsubscribe_handling: Any = None,
) -> MessageStream:
    """Create a Transactional or Broadcasts stream on ``server``.

    Validates in Postmark's order of concern and raises ``ApplicationError``:
    1222/1227/1233/1237 (ID), 1223/1224 (Name), 1231/1234 (Description), 1221
    (type), 1228 (Inbound), 1239/1240 (unsubscribe handling), 1230 (ID taken,
    archived streams included), 1225 (server already has
    ``MAX_STREAMS_PER_SERVER`` streams). Broadcast streams default to
    ``Postmark`` unsubscribe handling, others to ``None``. Not idempotent: a
    second call with the same ID gets 1230.
    """
    clean_id = _validated_id(stream_id)
    clean_name = _validated_name(name)
    clean_description = _validated_description(description)
    clean_type = _validated_type(stream_type)
    handling = _validated_handling(unsubscribe_handling, stream_type=clean_type)
    with transaction.atomic():
        # Serialise creates per server so two cannot both pass the count check.
        Server.objects.select_for_update().filter(pk=server.pk).first()
        existing = list(
            MessageStream.objects.filter(server=server).values_list(
                "stream_id", flat=True
            )
        )
        if clean_id in existing:
            raise ApplicationError(
                1230, f"A stream with the ID '{clean_id}' already exists."
            )
        if len(existing) >= MAX_STREAMS_PER_SERVER:
            raise ApplicationError(
                1225,
                f"This server already has {len(existing)} message streams "
                f"(archived ones included); the limit is {MAX_STREAMS_PER_SERVER}.",
            )
        try:
            with transaction.atomic():
                return MessageStream.objects.create(
                    server=server,
                    stream_id=clean_id,
                    name=clean_name,
                    description=clean_description,
                    stream_type=clean_type,
                    unsubscribe_handling=handling,
                )
        except IntegrityError:
            raise ApplicationError(
                1230, f"A stream with the ID '{clean_id}' already exists."
            ) from None


def stream_update(
    *,
    stream: MessageStream,
    name: Any = UNSET,
    description: Any = UNSET,
    unsubscribe_handling: Any = UNSET,
) -> MessageStream:
    """Edit a stream's Name, Description and unsubscribe handling; fields left
    ``UNSET`` (or sent as JSON null) keep their value, ``Description: ""``
    clears it. Sets ``updated_at``. Raises ``ApplicationError`` 1223/1224,
    1231/1234, 1239/1240. The ID and type never change. Safe to call twice."""
    changed: list[str] = []
    if name is not UNSET and name is not None:
        stream.name = _validated_name(name)
        changed.append("name")
    if description is not UNSET and description is not None:
        stream.description = _validated_description(description)
        changed.append("description")
    if unsubscribe_handling is not UNSET and unsubscribe_handling is not None:
        stream.unsubscribe_handling = _validated_handling(
            unsubscribe_handling, stream_type=stream.stream_type
        )
        changed.append("unsubscribe_handling")
    stream.updated_at = timezone.now()
    stream.save(update_fields=[*changed, "updated_at"])
    return stream


def stream_archive(*, stream: MessageStream) -> MessageStream:
    """Archive a stream: it disappears from default listings, sends to it are
    refused (1235, as for a missing stream) and it may be unarchived until
    ``expected_purge_at``. The default streams cannot be archived (1229).
    Safe to call twice: an archived stream keeps its first ``archived_at``."""
    if stream.stream_id in DEFAULT_STREAM_IDS:
        raise ApplicationError(
            1229,
            f"'{stream.stream_id}' is one of the server's default streams, which "
            "cannot be archived.",
        )
    if stream.archived_at is None:
        now = timezone.now()
        stream.archived_at = now
        stream.updated_at = now
        stream.save(update_fields=["archived_at", "updated_at"])
    return stream


def stream_unarchive(*, stream: MessageStream) -> MessageStream:
    """Bring an archived stream back (``archived_at = None``). Raises 1232 once
    its purge date has passed. Safe to call twice (a live stream is returned
    unchanged)."""
    purge_at = stream.expected_purge_at
    if purge_at is None:
        return stream
    if timezone.now() >= purge_at:
        raise ApplicationError(
            1232,
            f"The stream '{stream.stream_id}' passed its purge date and can no "
            "longer be unarchived.",
        )
    stream.archived_at = None
    stream.updated_at = timezone.now()
    stream.save(update_fields=["archived_at", "updated_at"])
    return stream


def streams_purge_expired(*, now: datetime | None = None) -> int:
    """Delete archived streams whose purge date has passed, with the data that
    lives per stream: its suppression list and its webhooks (their pending
    deliveries go with them). Messages sent through it are left to the
    server's retention sweep (``messages.retention``), which removes their raw
    MIME safely in batches. Returns how many streams were deleted; the ID is
    then free again. Safe to call twice and concurrently."""
    from bounces.models import Suppression  # apps above accounts
    from webhooks.models import Webhook

    now = now or timezone.now()
    cutoff = now - timedelta(days=MessageStream.ARCHIVE_PURGE_DAYS)
    purged = 0
    expired = MessageStream.objects.filter(archived_at__lte=cutoff)
    for stream in list(expired.only("id", "server_id", "stream_id")[:1000]):
        with transaction.atomic():
            Suppression.objects.filter(
                server_id=stream.server_id, message_stream=stream.stream_id
            ).delete()
            Webhook.objects.filter(
                server_id=stream.server_id, message_stream=stream.stream_id
            ).delete()
            purged += (
                MessageStream.objects.filter(pk=stream.pk, archived_at__lte=cutoff)
                .delete()[1]
                .get(MessageStream._meta.label, 0)
            )
    return purged

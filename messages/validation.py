"""Pure validation rules for submitted email (no ORM), with Postmark's codes."""

from __future__ import annotations

import re
from email.utils import getaddresses, parseaddr

from postmark_clone.errors import ApplicationError

MAX_RECIPIENTS = 50
MAX_METADATA_FIELDS = 10
MAX_METADATA_KEY = 20
MAX_METADATA_VALUE = 80
FORBIDDEN_EXTENSIONS = frozenset(
    "vbs exe bin bat chm com cpl crt hlp hta inf ins isp jse lnk mdb pcd pif reg scr "
    "sct shs vbe vba wsf wsh wsl msc msi msp mst".split()
)
TRACK_LINKS_VALUES = {
    "none": "None",
    "htmlandtext": "HtmlAndText",
    "htmlonly": "HtmlOnly",
    "textonly": "TextOnly",
}

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9\-\u0080-\U0010ffff]{1,63}(?<!-)$")
_HEADER_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")


def is_valid_address(address: str) -> bool:
    """A deliverable-looking ``local@domain.tld`` (no bare hosts like localhost)."""
    if not address or len(address) > 320 or address.count("@") != 1:
        return False
    local, domain = address.rsplit("@", 1)
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253:
        return False
    return all(_LABEL_RE.match(label) for label in labels)


def reject_line_breaks(field: str, value: str) -> None:
    """Header injection guard: no CR or LF may reach a header."""
    if "\r" in value or "\n" in value:
        raise ApplicationError(
            300, f"The '{field}' field must not contain line breaks (CR or LF)."
        )


def parse_from(value: str) -> tuple[str, str]:
    """Return ``(display_name, address)`` for a From value; Postmark keeps the first
    address when several are given."""
    reject_line_breaks("From", value)
    pairs = [p for p in getaddresses([value]) if p[1]]
    if not pairs:
        raise ApplicationError(300, f"Invalid 'From' address: '{value}'.")
    name, address = pairs[0]
    if not is_valid_address(address):
        raise ApplicationError(300, f"Invalid 'From' address: '{value}'.")
    return name, address


def parse_address_list(field: str, value: str) -> list[tuple[str, str]]:
    """Parse a comma-separated address list, raising Postmark's 300 for a bad one."""
    if not value:
        return []
    reject_line_breaks(field, value)
    result = []
    for name, address in getaddresses([value]):
        if not address and not name:
            continue
        if not is_valid_address(address):
            shown = address or name
            raise ApplicationError(300, f"Invalid '{field}' address: '{shown}'.")
        result.append((name, address))
    # getaddresses silently drops garbage such as "a@b.com, <<>>"; compare counts.
    pieces = [p for p in value.split(",") if p.strip()]
    if len(result) < len(pieces) and not any('"' in p for p in pieces):
        bad = next((p.strip() for p in pieces if not parseaddr(p)[1]), value)
        raise ApplicationError(300, f"Invalid '{field}' address: '{bad}'.")
    return result


def check_recipient_count(count: int) -> None:
    if count == 0:
        raise ApplicationError(300, "Zero recipients specified: provide To, Cc or Bcc.")
    if count > MAX_RECIPIENTS:
        raise ApplicationError(
            300,
            f"Too many recipients: {count} given, at most {MAX_RECIPIENTS} are allowed "
            "across To, Cc and Bcc.",
        )


def check_header_name(name: str) -> None:
    if not name or not _HEADER_NAME_RE.match(name):
        raise ApplicationError(300, f"Invalid header name: '{name}'.")


def check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_FIELDS:
        raise ApplicationError(
            300,
            f"Invalid metadata content. At most {MAX_METADATA_FIELDS} fields allowed.",
        )
    seen: set[str] = set()
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY:
            raise ApplicationError(
                300,
                f"Invalid metadata content. Keys must be 1 to {MAX_METADATA_KEY} "
                f"characters: '{key}'.",
            )
        if len(value) > MAX_METADATA_VALUE:
            raise ApplicationError(
                300,
                f"Invalid metadata content. Values must be at most {MAX_METADATA_VALUE} "
                f"characters (key '{key}').",
            )
        if key.lower() in seen:
            raise ApplicationError(
                300, f"Invalid metadata content. Duplicate key '{key}'."
            )
        seen.add(key.lower())
        reject_line_breaks(f"Metadata {key}", key)


def check_attachment_name(name: str) -> None:
    if not name:
        raise ApplicationError(300, "Every attachment needs a Name.")
    reject_line_breaks("Attachments Name", name)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in FORBIDDEN_EXTENSIONS:
        raise ApplicationError(
            411, f"Attachments of type '.{extension}' are not allowed ('{name}')."
        )


def normalize_track_links(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    normalized = TRACK_LINKS_VALUES.get(str(value).lower())
    if normalized is None:
        raise ApplicationError(
            300,
            f"Invalid TrackLinks value '{value}': use None, HtmlAndText, HtmlOnly or "
            "TextOnly.",
        )
    return normalized

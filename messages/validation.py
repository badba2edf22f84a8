"""Pure validation rules for submitted email (no ORM), with Postmark's codes."""

from __future__ import annotations

import functools
import re
from email.utils import parseaddr

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


MAX_BODY_CHARS = 5 * 1024 * 1024


def check_text(field: str, value: str | None) -> None:
    """Refuse text that cannot be stored or sent: NUL (PostgreSQL text columns and
    RFC 5322 both forbid it) and lone UTF-16 surrogates (JSON ``"\\ud800"``), which
    have no UTF-8 encoding."""
    if not value:
        return
    if "\x00" in value:
        raise ApplicationError(
            300, f"The '{field}' field must not contain NUL (\\u0000) characters."
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApplicationError(
                300,
                f"The '{field}' field contains an unpaired UTF-16 surrogate "
                "(an invalid \\uD800-\\uDFFF escape).",
            ) from exc


# CR and LF, plus every other character ``str.splitlines`` (and hence the email
# package's header folding) treats as a line boundary.
_LINE_BREAK_RE = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def reject_line_breaks(field: str, value: str) -> None:
    """Header injection guard (RFC 5322 §2.2: header fields end at CRLF): no CR, LF
    or other line separator may reach a header."""
    if _LINE_BREAK_RE.search(value):
        raise ApplicationError(
            300, f"The '{field}' field must not contain line breaks (CR or LF)."
        )


@functools.lru_cache(maxsize=1024)
def parse_from(value: str) -> tuple[str, str]:
    """Return ``(display_name, address)`` for a From value; Postmark keeps the first
    address when several are given. Pure, so memoised: a batch of 500 usually
    repeats one sender."""
    reject_line_breaks("From", value)
    pieces = split_addresses(value)
    if not pieces:
        raise ApplicationError(300, f"Invalid 'From' address: '{value}'.")
    name, address = _parse_one(pieces[0])
    if not address or not is_valid_address(address):
        raise ApplicationError(300, f"Invalid 'From' address: '{value}'.")
    return name, address


def split_addresses(value: str) -> list[str]:
    """Split an RFC 5322 address list on its top-level commas (not those inside
    quoted names, comments or angle brackets)."""
    if '"' not in value and "(" not in value and "<" not in value:
        # Nothing can hide a comma: the common case, without the scanner below.
        return [piece.strip() for piece in value.split(",") if piece.strip()]
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth_angle = depth_comment = 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth_comment):
            escaped = True
        elif char == '"' and not depth_comment:
            quoted = not quoted
        elif not quoted:
            if char == "(":
                depth_comment += 1
            elif char == ")" and depth_comment:
                depth_comment -= 1
            elif char == "<" and not depth_comment:
                depth_angle += 1
            elif char == ">" and depth_angle and not depth_comment:
                depth_angle -= 1
            elif char == "," and not (depth_angle or depth_comment):
                pieces.append("".join(current))
                current = []
                continue
        current.append(char)
    pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]


# A bare addr-spec with nothing to unquote: skips email.utils.parseaddr, which
# the send profile showed as a visible cost per recipient.
_BARE_ADDRESS_RE = re.compile(r"[^\s<>\"(),;:\\\[\]@]+@[^\s<>\"(),;:\\\[\]@]+")


def _parse_one(piece: str) -> tuple[str, str]:
    if _BARE_ADDRESS_RE.fullmatch(piece):
        return "", piece
    return parseaddr(piece)


def _shown_address(piece: str) -> str:
    """What to quote back in an error: the part in angle brackets, if any."""
    match = re.search(r"<([^<>]*)>", piece)
    return (match.group(1) if match else piece).strip()


def parse_address_list(field: str, value: str) -> list[tuple[str, str]]:
    """Parse a comma-separated address list into ``(display_name, addr_spec)``.

    Raises Postmark's 300 with the exact shape clients parse (anymail marks the
    quoted address invalid): ``Invalid 'To' address: 'x@localhost'.``
    """
    if not value:
        return []
    reject_line_breaks(field, value)
    result = []
    for piece in split_addresses(value):
        name, address = _parse_one(piece)
        if not address or not is_valid_address(address):
            raise ApplicationError(
                300, f"Invalid '{field}' address: '{_shown_address(piece)}'."
            )
        result.append((name, address))
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


# RFC 5322 §2.1.1: a line is at most 998 octets; the name and ": " must fit on
# the first one (a name cannot be folded).
MAX_HEADER_NAME = 996


def check_header_name(name: str) -> None:
    if not name or not _HEADER_NAME_RE.match(name):
        raise ApplicationError(300, f"Invalid header name: '{name[:100]}'.")
    if len(name) > MAX_HEADER_NAME:
        raise ApplicationError(
            300,
            f"Header name '{name[:40]}...' is {len(name)} characters; at most "
            f"{MAX_HEADER_NAME} fit on a line (RFC 5322).",
        )


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

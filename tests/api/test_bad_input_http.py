"""Bad input to the send API over real HTTP and through the test client: bodies
declared over Postmark's limits are refused before they are read, thousands
of recipients are one clear error, and SQL-looking or header-injecting
strings are stored and echoed literally or refused, never interpreted."""

from __future__ import annotations

import json
import socket
import time

import pytest

from messages.archive import archive_get
from messages.models import Message

pytestmark = pytest.mark.django_db

SQL = "'; DROP TABLE mail_message; -- \" OR 1=1 /*"


def payload(tenant, **overrides):
    return {
        "From": f"Acme <{tenant.sender}>",
        "To": "alice@example.org",
        "Subject": "Hello",
        "TextBody": "Hi",
        **overrides,
    }


def raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[int, dict, float]:
    """Send ``head`` (and ``body``) over a socket; status, JSON and seconds."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    elapsed = time.monotonic() - started
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1]), elapsed


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "declared"),
    [("/email", 10 * 1024 * 1024 + 1), ("/email/batch", 50 * 1024 * 1024 + 1)],
)
def test_a_body_declared_over_the_limit_is_refused_before_it_arrives(
    live_server, tenant, path, declared
):
    # Only the headers are sent: the answer cannot wait for (or buffer) the body.
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
        f"X-Postmark-Server-Token: {tenant.server_token}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    ).encode()
    status, body, elapsed = raw_request(live_server.url, head, b"[")
    assert status == 413
    assert body["ErrorCode"] == 300
    assert str(declared) in body["Message"] and "limit" in body["Message"]
    assert elapsed < 5
    assert Message.objects.count() == 0


def test_thousands_of_recipients_are_one_error_300(api, tenant):
    many = ", ".join(f"user{i}@example.org" for i in range(5000))
    for field in ("To", "Cc", "Bcc"):
        body = payload(tenant, **{field: many})
        if field != "To":
            body["To"] = "alice@example.org"
        started = time.monotonic()
        response = api.send_json("POST", "/email", body, **tenant.server_headers)
        assert time.monotonic() - started < 5
        assert response.status_code == 422, response.content
        error = response.json()
        assert error["ErrorCode"] == 300
        assert "at most 50" in error["Message"]
    assert Message.objects.count() == 0


def test_thousands_of_recipients_in_a_batch_fail_only_their_item(api, tenant):
    many = ", ".join(f"user{i}@example.org" for i in range(3000))
    items = [payload(tenant), payload(tenant, To=many)]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 200
    ok, refused = response.json()
    assert ok["ErrorCode"] == 0 and refused["ErrorCode"] == 300
    assert Message.objects.count() == 1


def test_sql_looking_strings_are_stored_and_echoed_literally(api, tenant):
    body = payload(
        tenant,
        From=f'"\'; DROP TABLE accounts_server; --" <{tenant.sender}>',
        Subject=SQL,
        Tag=SQL[:40],
        Metadata={"k": SQL},
        TextBody=SQL,
        Headers=[{"Name": "X-Sql", "Value": SQL}],
    )
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    message_id = response.json()["MessageID"]
    details = api.send_json(
        "GET", f"/messages/outbound/{message_id}/details", **tenant.server_headers
    ).json()
    assert details["Subject"] == SQL
    assert details["Tag"] == SQL[:40]
    assert details["Metadata"] == {"k": SQL}
    assert "'; DROP TABLE accounts_server; --" in details["From"]
    # Searching with it is a filter, not SQL.
    found = api.get(
        "/messages/outbound",
        {"count": 50, "offset": 0, "subject": SQL},
        HTTP_ACCEPT="application/json",
        **tenant.server_headers,
    )
    assert found.status_code == 200
    assert [m["MessageID"] for m in found.json()["Messages"]] == [message_id]


@pytest.mark.parametrize(
    "overrides",
    [
        {"Subject": "Hi\r\nBcc: victim@example.org"},
        {"Subject": "Hi\nBcc: victim@example.org"},
        {"Tag": "t\r\nBcc: victim@example.org"},
        {"Headers": [{"Name": "X-A", "Value": "v\r\nBcc: victim@example.org"}]},
        {"Headers": [{"Name": "X-A\r\nBcc", "Value": "victim@example.org"}]},
        {"ReplyTo": "a@example.org\r\nBcc: victim@example.org"},
        {"Metadata": {"k": "v\r\nBcc: victim@example.org"}},
    ],
)
def test_header_injection_is_refused_or_stays_inside_its_header(api, tenant, overrides):
    response = api.send_json(
        "POST", "/email", payload(tenant, **overrides), **tenant.server_headers
    )
    assert response.status_code in (200, 422), response.content
    if response.status_code == 422:
        assert response.json()["ErrorCode"] == 300
        assert Message.objects.count() == 0
        return
    message = Message.objects.get(message_id=response.json()["MessageID"])
    raw = archive_get(key=message.archive_key)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head and not head.startswith(b"Bcc:")
    assert list(message.recipients.values_list("email", flat=True)) == [
        "alice@example.org"
    ]


def test_8bit_header_values_are_encoded_and_8bit_names_refused(api, tenant):
    ok = api.send_json(
        "POST",
        "/email",
        payload(
            tenant,
            Subject="Café ☕ crème",
            Headers=[{"Name": "X-Note", "Value": "naïve ☕"}],
        ),
        **tenant.server_headers,
    )
    assert ok.status_code == 200, ok.content
    message = Message.objects.get(message_id=ok.json()["MessageID"])
    head = archive_get(key=message.archive_key).split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # RFC 2047 encoded words, no raw 8-bit in headers
    assert message.subject == "Café ☕ crème"
    bad = api.send_json(
        "POST",
        "/email",
        payload(tenant, Headers=[{"Name": "X-Café", "Value": "x"}]),
        **tenant.server_headers,
    )
    assert bad.status_code == 422
    assert bad.json()["ErrorCode"] == 300


def test_a_header_name_longer_than_a_line_is_error_300(api, tenant):
    name = "X-" + "n" * 5000
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant, Headers=[{"Name": name, "Value": "v"}]),
        **tenant.server_headers,
    )
    assert response.status_code == 422
    error = response.json()
    assert error["ErrorCode"] == 300
    assert "5002 characters" in error["Message"]
    assert Message.objects.count() == 0

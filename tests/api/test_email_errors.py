"""Bad input to the send API: Postmark's HTTP status, ErrorCode and a message a
person can act on; never a 5xx, never HTML."""

from __future__ import annotations

import json

import pytest

from messages.models import Message

pytestmark = pytest.mark.django_db


def payload(tenant, **overrides):
    body = {
        "From": f"Acme <{tenant.sender}>",
        "To": "alice@example.org",
        "Subject": "Hello",
        "TextBody": "Hi",
    }
    body.update(overrides)
    return body


def post_raw(api, path, data, tenant, content_type="application/json", **extra):
    return api.generic(
        "POST",
        path,
        data,
        content_type=content_type,
        HTTP_ACCEPT="application/json",
        **tenant.server_headers,
        **extra,
    )


def assert_error(response, status, code, text=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ErrorCode"] == code, body
    assert response["X-PM-ApiErrorCode"] == str(code)
    if text is not None:
        assert body["Message"] == text
    return body


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"From": }', b"\xff\xfe\x00garbage", b"[" * 100_000, b""],
    ids=["truncated", "bad-value", "bad-encoding", "nested-too-deep", "empty"],
)
def test_malformed_json_is_error_402(api, tenant, raw):
    body = assert_error(post_raw(api, "/email", raw, tenant), 422, 402)
    assert "JSON" in body["Message"]
    assert Message.objects.count() == 0


@pytest.mark.parametrize("document", [[], "x", 42, None])
def test_a_body_that_is_not_an_object_is_error_402(api, tenant, document):
    response = post_raw(api, "/email", json.dumps(document), tenant)
    assert_error(response, 422, 402)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("Subject", ["a"], "The 'Subject' field must be a string, not an array."),
        ("HtmlBody", {"x": 1}, "The 'HtmlBody' field must be a string, not an object."),
        ("Cc", True, "The 'Cc' field must be a string, not a boolean."),
        ("TrackOpens", "maybe", "The 'TrackOpens' field must be true or false."),
        ("TrackLinks", "Sometimes", "Invalid TrackLinks value 'Sometimes'"),
        ("Headers", "X-A: b", "The 'Headers' field must be a list"),
        ("Metadata", ["a"], "Invalid metadata content."),
        ("Attachments", {"Name": "a"}, "The 'Attachments' field must be a list."),
    ],
)
def test_wrong_types_are_error_300_naming_the_field(
    api, tenant, field, value, fragment
):
    body = assert_error(
        post_raw(api, "/email", json.dumps(payload(tenant, **{field: value})), tenant),
        422,
        300,
    )
    assert fragment in body["Message"]


def test_missing_from_is_error_300(api, tenant):
    body = payload(tenant)
    del body["From"]
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert "'From' field is required" in assert_error(response, 422, 300)["Message"]


def test_missing_recipients_is_error_300(api, tenant):
    body = payload(tenant)
    del body["To"]
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert "Zero recipients" in assert_error(response, 422, 300)["Message"]


def test_missing_body_is_error_300_with_postmarks_text(api, tenant):
    response = api.send_json(
        "POST", "/email", payload(tenant, TextBody=""), **tenant.server_headers
    )
    assert_error(
        response, 422, 300, "Provide either email TextBody or HtmlBody or both."
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"From": "Acme <sender@acme.example.com>\r\nBcc: v@example.org"},
        {"To": "alice@example.org\nBcc: v@example.org"},
        {"Cc": "c@example.org\r\n"},
        {"Bcc": "b@example.org\rX: y"},
        {"ReplyTo": "r@example.org\nX: y"},
        {"Subject": "Hi\r\nBcc: v@example.org"},
        {"Subject": "Hi\u2028Bcc: v@example.org"},
        {"Subject": "Hi\x0bthere"},
        {"Tag": "a\nb"},
        {"Headers": [{"Name": "X-A", "Value": "b\r\nBcc: v@example.org"}]},
        {"Headers": [{"Name": "X-A\r\nBcc", "Value": "v@example.org"}]},
        {"Metadata": {"a\nb": "c"}},
        {
            "Attachments": [
                {
                    "Name": "a.txt\r\nX: y",
                    "Content": "aGk=",
                    "ContentType": "text/plain",
                }
            ]
        },
        {
            "Attachments": [
                {
                    "Name": "a.png",
                    "Content": "aGk=",
                    "ContentType": "image/png\r\nX: y",
                }
            ]
        },
        {
            "Attachments": [
                {
                    "Name": "a.png",
                    "Content": "aGk=",
                    "ContentType": "image/png",
                    "ContentID": "cid:a\r\nX: y",
                }
            ]
        },
    ],
)
def test_line_breaks_in_any_header_bound_field_are_refused(api, tenant, overrides):
    response = api.send_json(
        "POST", "/email", payload(tenant, **overrides), **tenant.server_headers
    )
    assert_error(response, 422, 300)
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("To", "alice@localhost", "Invalid 'To' address: 'alice@localhost'."),
        ("To", "Alice <alice@>", "Invalid 'To' address: 'alice@'."),
        ("Cc", "ok@example.org, nope", "Invalid 'Cc' address: 'nope'."),
        ("Bcc", "x@@example.org", "Invalid 'Bcc' address: 'x@@example.org'."),
        (
            "From",
            "webmaster@localhost",
            "Invalid 'From' address: 'webmaster@localhost'.",
        ),
    ],
)
def test_invalid_addresses_use_the_text_anymail_parses(api, tenant, field, value, text):
    response = api.send_json(
        "POST", "/email", payload(tenant, **{field: value}), **tenant.server_headers
    )
    assert_error(response, 422, 300, text)


def test_nul_and_lone_surrogates_are_refused_not_crashing_the_database(api, tenant):
    for overrides in ({"Subject": "a\x00b"}, {"Tag": "\ud800"}):
        response = post_raw(
            api, "/email", json.dumps(payload(tenant, **overrides)), tenant
        )
        assert_error(response, 422, 300)


def test_more_than_50_recipients_is_error_300(api, tenant):
    to = ", ".join(f"u{i}@example.org" for i in range(30))
    cc = ", ".join(f"c{i}@example.org" for i in range(21))
    response = api.send_json(
        "POST", "/email", payload(tenant, To=to, Cc=cc), **tenant.server_headers
    )
    body = assert_error(response, 422, 300)
    assert "51 given, at most 50" in body["Message"]


def test_exactly_50_recipients_is_fine(api, tenant):
    to = ", ".join(f"u{i}@example.org" for i in range(50))
    response = api.send_json(
        "POST", "/email", payload(tenant, To=to), **tenant.server_headers
    )
    assert response.status_code == 200


def test_forbidden_attachment_type_is_error_411(api, tenant):
    attachment = {"Name": "run.EXE", "Content": "aGk=", "ContentType": "x/y"}
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant, Attachments=[attachment]),
        **tenant.server_headers,
    )
    assert_error(response, 422, 411)


def test_attachment_content_that_is_not_base64_is_error_300(api, tenant):
    attachment = {"Name": "a.txt", "Content": "!!!", "ContentType": "text/plain"}
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant, Attachments=[attachment]),
        **tenant.server_headers,
    )
    assert "not valid base64" in assert_error(response, 422, 300)["Message"]


def test_metadata_limits_are_error_300(api, tenant):
    too_many = {f"k{i}": "v" for i in range(11)}
    for metadata in (too_many, {"k" * 21: "v"}, {"k": "v" * 81}, {"a": "1", "A": "2"}):
        response = api.send_json(
            "POST",
            "/email",
            payload(tenant, Metadata=metadata),
            **tenant.server_headers,
        )
        assert assert_error(response, 422, 300)["Message"].startswith(
            "Invalid metadata content."
        )


def test_a_request_over_10_mb_is_http_413(api, tenant):
    big = "x" * (10 * 1024 * 1024 + 10)
    response = api.send_json(
        "POST", "/email", payload(tenant, TextBody=big), **tenant.server_headers
    )
    body = assert_error(response, 413, 300)
    assert "limit" in body["Message"]
    assert Message.objects.count() == 0


def test_a_batch_item_over_the_size_limit_is_error_300_for_that_item(
    api, tenant, settings
):
    settings.MAX_MESSAGE_BYTES = 50_000
    items = [payload(tenant), payload(tenant, HtmlBody="y" * 60_000)]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 200
    first, second = response.json()
    assert first["ErrorCode"] == 0
    assert second["ErrorCode"] == 300
    assert "the limit is 50000 bytes" in second["Message"]


def test_a_body_over_the_upload_limit_is_413_json(api, tenant, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    items = [payload(tenant, TextBody="z" * 2000)]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert_error(response, 413, 300)


def test_more_than_500_batch_items_is_error_410(api, tenant):
    items = [payload(tenant)] * 501
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    body = assert_error(response, 422, 410)
    assert "at most 500" in body["Message"]
    assert Message.objects.count() == 0


def test_a_batch_that_is_not_an_array_is_error_402(api, tenant):
    response = api.send_json(
        "POST", "/email/batch", payload(tenant), **tenant.server_headers
    )
    assert "JSON array" in assert_error(response, 422, 402)["Message"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
    ],
)
def test_json_is_read_whatever_the_usual_content_type(api, tenant, content_type):
    response = post_raw(
        api, "/email", json.dumps(payload(tenant)), tenant, content_type=content_type
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("content_type", ["text/html", "multipart/form-data; b=x"])
def test_a_non_json_content_type_is_415_json(api, tenant, content_type):
    response = post_raw(
        api, "/email", json.dumps(payload(tenant)), tenant, content_type=content_type
    )
    body = assert_error(response, 415, 409)
    assert "Content-Type: application/json" in body["Message"]


@pytest.mark.parametrize("accept", ["*/*", "application/json", "application/*", ""])
def test_usual_accept_headers_are_fine(api, tenant, accept):
    response = api.generic(
        "POST",
        "/email",
        json.dumps(payload(tenant)),
        content_type="application/json",
        HTTP_ACCEPT=accept,
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.content


def test_accept_text_html_is_415_json(api, tenant):
    response = api.generic(
        "POST",
        "/email",
        json.dumps(payload(tenant)),
        content_type="application/json",
        HTTP_ACCEPT="text/html",
        **tenant.server_headers,
    )
    body = assert_error(response, 415, 409)
    assert "application/json" in body["Message"]


def test_missing_token_is_401_error_10(api, tenant):
    response = api.send_json("POST", "/email", payload(tenant))
    assert_error(response, 401, 10, "Request does not contain a valid Server token.")


@pytest.mark.parametrize("path", ["/email", "/email/batch", "/Email/Batch/"])
def test_a_wrong_method_is_an_empty_405_even_without_a_token(api, path):
    response = api.get(path)
    assert response.status_code == 405
    assert response.content == b""


def test_an_unknown_path_is_404_json(api, tenant):
    response = api.send_json(
        "POST", "/emails", payload(tenant), **tenant.server_headers
    )
    body = assert_error(response, 404, 404)
    assert "/emails" in body["Message"]


def test_a_bad_host_header_is_400_json_not_html(api):
    response = api.post(
        "/email", "{}", content_type="application/json", HTTP_HOST="evil.test"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "ErrorCode" in response.json()

"""HTTP 200 from the send API means the message row and its raw MIME are
committed; any failure on the way answers an error and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from messages.archive import archive_get
from messages.models import Message, Recipient


def payload(tenant):
    return {
        "From": tenant.sender,
        "To": "alice@example.org, bob@example.org",
        "Subject": "Durable",
        "TextBody": "hello",
    }


def archived_files(server_id: int) -> list[Path]:
    root = Path(settings.STORAGES["archive"]["OPTIONS"]["location"])
    return [p for p in (root / "messages" / str(server_id)).rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_an_archive_write_failure_answers_an_error_and_stores_no_row(
    api, tenant, tmp_path
):
    # The archive "directory" is a regular file: every write fails with an
    # OSError, as a full or read-only disk would.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    storages = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker)},
        },
    }
    with override_settings(STORAGES=storages):
        response = api.send_json(
            "POST", "/email", payload(tenant), **tenant.server_headers
        )
    assert response.status_code == 500
    body = response.json()
    assert body["ErrorCode"] == 101
    assert "error id" in body["Message"]
    assert Message.objects.count() == 0
    assert Recipient.objects.count() == 0


@pytest.mark.django_db
def test_a_database_failure_answers_an_error_and_discards_the_archived_mime(
    api, tenant
):
    # A real PostgreSQL error in the middle of the insert transaction (after the
    # message row, on the recipients): the whole transaction must roll back.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION pg_temp.refuse() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'disk full (simulated by a test trigger)'; END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_recipients BEFORE INSERT ON mail_recipient
            FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse();
            """
        )
    before = archived_files(tenant.server.id)
    response = api.send_json("POST", "/email", payload(tenant), **tenant.server_headers)
    assert response.status_code == 500
    assert response.json()["ErrorCode"] == 101
    assert Message.objects.count() == 0
    assert archived_files(tenant.server.id) == before


@pytest.mark.django_db
def test_a_failed_batch_stores_none_of_its_messages(api, tenant):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION pg_temp.refuse_third() RETURNS trigger AS $$
            BEGIN
              IF NEW.email = 'third@example.org' THEN
                RAISE EXCEPTION 'simulated failure';
              END IF;
              RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_third BEFORE INSERT ON mail_recipient
            FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_third();
            """
        )
    items = [
        {**payload(tenant), "To": address}
        for address in ("first@example.org", "second@example.org", "third@example.org")
    ]
    before = archived_files(tenant.server.id)
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 500
    assert Message.objects.count() == 0
    # The three objects written in parallel before the insert failed are gone.
    assert archived_files(tenant.server.id) == before


@pytest.mark.django_db(transaction=True)
def test_after_a_200_another_connection_sees_the_row_and_the_mime(api, tenant):
    response = api.send_json("POST", "/email", payload(tenant), **tenant.server_headers)
    assert response.status_code == 200
    message_id = response.json()["MessageID"]
    # A separate connection: only committed data is visible to it.
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as other:
        row = other.execute(
            "SELECT archive_key, (SELECT count(*) FROM mail_recipient r"
            " WHERE r.message_id = m.id) FROM mail_message m WHERE message_id = %s",
            [message_id],
        ).fetchone()
    assert row is not None
    archive_key, recipient_count = row
    assert recipient_count == 2
    assert b"Subject: Durable" in archive_get(key=archive_key)


@pytest.fixture
def s3_archive(settings):
    """The archive on S3, served by moto's standalone server over real HTTP."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
        "region_name": "us-east-1",
    }
    boto3.client("s3", endpoint_url=endpoint, **credentials).create_bucket(
        Bucket="archive"
    )
    options = {
        "bucket_name": "archive",
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "access_key": "test",
        "secret_key": "test",
        "file_overwrite": False,
        "default_acl": None,
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield options
    server.stop()


@pytest.mark.django_db
def test_a_batch_is_archived_to_s3_in_parallel_and_every_object_reads_back(
    api, tenant, s3_archive, settings
):
    settings.ARCHIVE_WRITE_CONCURRENCY = 4
    items = [
        {**payload(tenant), "To": f"u{n}@example.org", "Subject": f"n{n}"}
        for n in range(12)
    ]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert [r["ErrorCode"] for r in response.json()] == [0] * 12
    for result, n in zip(response.json(), range(12), strict=True):
        message = Message.objects.get(message_id=result["MessageID"])
        assert f"Subject: n{n}\r\n".encode() in archive_get(key=message.archive_key)


@pytest.mark.django_db
def test_an_s3_failure_in_a_batch_answers_an_error_and_stores_nothing(
    api, tenant, s3_archive, settings
):
    settings.ARCHIVE_WRITE_CONCURRENCY = 4
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**s3_archive, "bucket_name": "no-such-bucket"},
        },
    }
    items = [{**payload(tenant), "To": f"u{n}@example.org"} for n in range(5)]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 500
    assert response.json()["ErrorCode"] == 101
    assert Message.objects.count() == 0

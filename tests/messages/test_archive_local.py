"""The local-disk archive's write path: write-once, folders created on demand."""

from __future__ import annotations

import os

import pytest
from django.core.files.storage import storages

from messages.archive import archive_get, archive_put


@pytest.fixture
def local_archive(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    yield tmp_path


def test_an_object_is_written_under_new_folders_and_read_back(local_archive):
    key = archive_put(key="messages/7/2026/11/23/abc.eml", data=b"Subject: x\r\n\r\nhi")
    assert key == "messages/7/2026/11/23/abc.eml"
    assert (local_archive / key).read_bytes() == b"Subject: x\r\n\r\nhi"
    assert archive_get(key=key) == b"Subject: x\r\n\r\nhi"


def test_an_existing_object_is_never_overwritten(local_archive):
    first = archive_put(key="messages/1/a.eml", data=b"first")
    second = archive_put(key="messages/1/a.eml", data=b"second")
    assert first == "messages/1/a.eml"
    assert second != first
    assert archive_get(key=first) == b"first"
    assert archive_get(key=second) == b"second"


def test_files_get_the_configured_permissions(local_archive, settings):
    settings.FILE_UPLOAD_PERMISSIONS = 0o640
    storages["archive"]  # noqa: B018 - the handler re-reads settings per test
    key = archive_put(key="messages/1/perm.eml", data=b"x")
    assert (os.stat(local_archive / key).st_mode & 0o777) == 0o640


def test_a_key_escaping_the_root_is_refused(local_archive):
    from django.core.exceptions import SuspiciousFileOperation

    with pytest.raises(SuspiciousFileOperation):
        archive_put(key="../outside.eml", data=b"x")
    assert not (local_archive.parent / "outside.eml").exists()

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


@pytest.fixture
def fsynced(monkeypatch):
    """Paths the archive really fsyncs (the real ``os.fsync`` still runs)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return synced


def test_an_acknowledged_object_and_its_new_folders_are_fsynced(local_archive, fsynced):
    key = archive_put(key="messages/9/2026/12/06/new.eml", data=b"Subject: y\r\n\r\n")
    path = str(local_archive / key)
    assert path in fsynced
    # The file's own folder (holding its new name) and every folder created for
    # it, up to the archive root that already existed.
    for folder in ["2026/12/06", "2026/12", "2026", ""]:
        expected = str(local_archive / "messages/9" / folder).rstrip("/")
        assert expected in fsynced
    assert str(local_archive / "messages") in fsynced
    assert str(local_archive) in fsynced
    assert fsynced.index(path) < fsynced.index(os.path.dirname(path))


def test_archive_fsync_can_be_turned_off(local_archive, fsynced, settings):
    settings.ARCHIVE_FSYNC = False
    archive_put(key="messages/9/2026/12/06/fast.eml", data=b"x")
    assert fsynced == []

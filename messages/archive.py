"""Write-once archive of raw messages and reports in object storage.

The only user of the ``archive`` storage (local files by default, S3 through
django-storages when ``ARCHIVE_S3_BUCKET`` is set). Never call it inside a
database transaction: on S3 it is network I/O.
"""

from __future__ import annotations

import os
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages


def archive_key(*, server_id: int, kind: str, when: datetime, name: str) -> str:
    """``<kind>/<server>/<yyyy>/<mm>/<dd>/<name>.eml``: server and day prefixes let
    retention purge whole days and operators list one tenant's objects."""
    return f"{kind}/{server_id}/{when:%Y/%m/%d}/{name}.eml"


def archive_put(*, key: str, data: bytes) -> str:
    """Store ``data`` under ``key`` and return the key actually written.

    Keys embed a UUID, so they do not collide; storages never overwrite (a clash
    would get a suffixed name, which is returned).
    """
    storage = storages["archive"]
    if (
        type(storage) is FileSystemStorage
        and storage.directory_permissions_mode is None
    ):
        return _local_put(storage, key, data)
    return storage.save(key, ContentFile(data))


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _local_put(storage: FileSystemStorage, key: str, data: bytes) -> str:
    """``FileSystemStorage.save`` without its per-file overhead (an existence
    check, ``makedirs``, a lock and chunked copies: ~0.1 ms per message on the
    send path). Same guarantees: the file is created exclusively, so an
    existing object is never overwritten (a clash takes the storage's own path,
    which picks a suffixed name), and a failed write leaves no partial file."""
    path = storage.path(key)  # validates the key stays under the root
    folder = os.path.dirname(path)
    try:
        fd = os.open(path, _CREATE_FLAGS, 0o666)
    except FileNotFoundError:  # first object of the day: create the folders
        _makedirs_durably(folder, root=storage.location)
        fd = os.open(path, _CREATE_FLAGS, 0o666)
    except FileExistsError:
        return storage.save(key, ContentFile(data))
    try:
        if storage.file_permissions_mode is not None:
            os.fchmod(fd, storage.file_permissions_mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if settings.ARCHIVE_FSYNC:
            # An acknowledged message must survive a power cut: the caller
            # answers 200/250 right after this returns. fsync the file's data,
            # then its folder, so the new name is on disk too (POSIX leaves a
            # new directory entry unsynced until the folder itself is synced).
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)
    if settings.ARCHIVE_FSYNC:
        _fsync_folder(folder)
    return key


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durably(folder: str, *, root: str) -> None:
    """``os.makedirs`` that also syncs each new folder's entry in its parent."""
    missing: list[str] = []
    current = folder
    while not os.path.isdir(current) and current.startswith(root):
        missing.append(current)
        current = os.path.dirname(current)
    os.makedirs(folder, exist_ok=True)
    if settings.ARCHIVE_FSYNC:
        for created in reversed(missing):
            _fsync_folder(os.path.dirname(created))


def archive_get(*, key: str) -> bytes | None:
    """The stored bytes, or ``None`` when the object is gone (purged)."""
    if not key:
        return None
    storage = storages["archive"]
    try:
        with storage.open(key, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return None


def archive_delete(*, key: str) -> None:
    """Delete one object; safe to call twice."""
    if key:
        storages["archive"].delete(key)


def archive_delete_many(*, keys: list[str]) -> int:
    """Delete many objects; returns how many keys were asked for. Idempotent.

    On S3 this is one ``DeleteObjects`` call per 1,000 keys (the API maximum)
    instead of one request per object; deleting a missing key is not an error
    there nor on the local filesystem. Raises if S3 reports a failed key, so the
    caller keeps the rows that point at it and tries again later.
    """
    keys = [key for key in keys if key]
    if not keys:
        return 0
    storage = storages["archive"]
    bucket = getattr(storage, "bucket", None)
    if bucket is None:
        for key in keys:
            storage.delete(key)
        return len(keys)
    from storages.utils import clean_name  # only with the S3 backend

    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        objects = [
            {"Key": storage._normalize_name(clean_name(key))}  # noqa: SLF001
            for key in chunk
        ]
        response = bucket.delete_objects(Delete={"Objects": objects, "Quiet": True})
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise OSError(
                f"S3 refused to delete {len(errors)} archive objects, e.g. "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
    return len(keys)

"""Fixtures for the tracking tests: a clean Redis hit buffer and tracked sends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings

from tracking import buffer
from tracking.rewrite import click_url, open_url

from .helpers import path_of


@pytest.fixture(autouse=True)
def clean_buffer() -> Iterator[None]:
    """The hit buffer lives in our Redis test database: start every test empty."""

    def wipe() -> None:
        if settings.REDIS_URL:
            redis.Redis.from_url(settings.REDIS_URL).delete(
                buffer.KEY, buffer.FLAG, buffer.LOCK
            )

    wipe()
    yield
    wipe()


@pytest.fixture
def hit(client) -> Callable[..., object]:
    """``hit(recipient_row, url=None, ua=...)``: request the open pixel (or, with
    ``url``, the click link) of that recipient through Django's test client."""

    def do(row, url: str | None = None, ua: str = "", text: bool = False):
        target = open_url(row.id) if url is None else click_url(row.id, url, text=text)
        return client.get(path_of(target), HTTP_USER_AGENT=ua)

    return do

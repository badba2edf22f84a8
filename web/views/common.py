"""Helpers shared by the web UI views."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

PAGE_SIZE = 50
MAX_PAGE = 2000  # offsets beyond 100k rows are not useful in a browser


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int
    query: str  # the current filters, without "page", url-encoded

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return max(1, min(MAX_PAGE, -(-self.total // self.size)))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.last

    @property
    def first_index(self) -> int:
        return self.offset + 1 if self.total else 0

    def last_index(self, shown: int) -> int:
        return self.offset + shown

    def link(self, number: int) -> str:
        prefix = f"{self.query}&" if self.query else ""
        return f"?{prefix}page={number}"

    @property
    def previous_link(self) -> str:
        return self.link(self.number - 1)

    @property
    def next_link(self) -> str:
        return self.link(self.number + 1)


def page_number(request: HttpRequest) -> int:
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def page_for(request: HttpRequest, *, total: int, number: int) -> Page:
    query = request.GET.copy()
    query.pop("page", None)
    # Drop empty filters so URLs stay short and readable.
    for key in [k for k, v in query.lists() if not any(v)]:
        query.pop(key)
    return Page(number=number, size=PAGE_SIZE, total=total, query=query.urlencode())

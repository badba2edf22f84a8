"""Server-rendered SVG bar charts: geometry only, the template draws it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH = 540
HEIGHT = 180
PAD_LEFT = 34
PAD_BOTTOM = 24
PAD_TOP = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: int


@dataclass(frozen=True)
class Chart:
    title: str
    key: str
    total: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, label) gridlines
    labels: list[tuple[float, str]]  # (x, text) day labels
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_bottom: int = HEIGHT - PAD_BOTTOM


def _nice_max(value: int) -> int:
    if value <= 4:
        return 4
    for step in (5, 10, 20, 25, 50):
        if value <= step:
            return step
    magnitude = 10 ** (len(str(value)) - 1)
    return ((value + magnitude - 1) // magnitude) * magnitude


def bar_chart(*, title: str, key: str, series: list[tuple[date, int]]) -> Chart:
    """Lay out one bar per day; the y axis gets four gridlines from 0 to a
    rounded maximum so small counts still read well."""
    top = _nice_max(max((v for _d, v in series), default=0))
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    plot_w = WIDTH - PAD_LEFT - 22  # room for the last day label
    slot = plot_w / max(len(series), 1)
    bars = []
    labels = []
    for i, (day, value) in enumerate(series):
        h = plot_h * value / top
        x = PAD_LEFT + i * slot + slot * 0.15
        bars.append(
            Bar(
                x=round(x, 1),
                y=round(HEIGHT - PAD_BOTTOM - h, 1),
                width=round(slot * 0.7, 1),
                height=round(h, 1),
                day=day,
                value=value,
            )
        )
        # Label every 7th day counting back from today, so labels never collide.
        if (len(series) - 1 - i) % 7 == 0:
            labels.append((round(x + slot * 0.35, 1), day.strftime("%b %d")))
    ticks = [
        (round(HEIGHT - PAD_BOTTOM - plot_h * k / 4, 1), top * k // 4) for k in range(5)
    ]
    return Chart(
        title=title,
        key=key,
        total=sum(v for _d, v in series),
        bars=bars,
        ticks=ticks,
        labels=labels,
    )

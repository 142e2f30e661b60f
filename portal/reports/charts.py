"""Geometry of the dashboard's server-rendered SVG charts (pure: no database, no Flask).

The template draws what these functions return inside ``<svg viewBox="0 0 {width} {height}">``, so the charts
need no JavaScript library and read the same with styles or scripts off.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from portal.money import format_inr

#: SVG units kept right of the longest bar for its value text
TEXT_ROOM = 190


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its row label, the value text at its end, and its box in SVG units."""

    label: str
    text: str
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars; ``description`` is the chart in words (for ``<desc>`` and screen readers)."""

    width: int
    height: int
    label_width: int
    bar_height: int
    bars: tuple[Bar, ...]
    description: str


def bar_chart(items: Sequence, *, width: int = 420, label_width: int = 80, row: int = 28) -> BarChart:
    """Bars of the outstanding principal of ``items`` (``Slice``-like: label, count, principal), scaled to the
    largest; text "Rs 1,20,000.00 · 3 loans" beside each bar."""
    items = list(items)
    top = max((item.principal for item in items), default=Decimal(0)) or Decimal(1)
    room = width - label_width - TEXT_ROOM
    bars, words = [], []
    for n, item in enumerate(items):
        share = float(item.principal / top) if item.principal > 0 else 0.0
        text = f"{format_inr(item.principal)} · {item.count} loan{'' if item.count == 1 else 's'}"
        bars.append(Bar(label=item.label, text=text, y=n * row + 4, width=round(max(share * room, 0.0), 1)))
        words.append(f"{item.label}: {text}")
    return BarChart(width=width, height=max(1, len(items)) * row + 4, label_width=label_width,
                    bar_height=row - 10, bars=tuple(bars), description="; ".join(words) + ".")


@dataclass(frozen=True)
class LineChart:
    """Two lines over the same dates: AUM (left scale) and PAR30 (right scale); points as SVG polyline text."""

    width: int
    height: int
    aum_points: str
    par_points: str
    first_label: str
    last_label: str
    aum_max: str
    par_max: str
    description: str
    count: int


def trend_chart(points: Sequence, *, width: int = 640, height: int = 200, pad: int = 30) -> LineChart:
    """The AUM / PAR30 trend of ``points`` (``TrendPoint``-like: on, aum, par30), oldest first. Each line is
    scaled to its own maximum (AUM on the left, PAR30 on the right); one point draws a dot-like short line."""
    points = list(points)
    n = len(points)
    aum_top = max((p.aum for p in points), default=Decimal(0)) or Decimal(1)
    par_real = max((p.par30 for p in points), default=Decimal(0))
    par_top = par_real or Decimal(1)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad

    def x(i: int) -> float:
        return round(pad + (inner_w * i / (n - 1) if n > 1 else inner_w / 2), 1)

    def y(value: Decimal, top: Decimal) -> float:
        return round(pad + inner_h - float(value / top) * inner_h, 1)

    aum = " ".join(f"{x(i)},{y(p.aum, aum_top)}" for i, p in enumerate(points))
    par = " ".join(f"{x(i)},{y(p.par30, par_top)}" for i, p in enumerate(points))
    if n:
        first, last = points[0], points[-1]
        description = (f"{n} business date{'s' if n != 1 else ''} from {first.on:%d %b %Y} to {last.on:%d %b %Y}: "
                       f"AUM from {format_inr(first.aum)} to {format_inr(last.aum)}, PAR30 from {first.par30}% "
                       f"to {last.par30}%.")
    else:
        description = "No snapshots yet."
    return LineChart(width=width, height=height, aum_points=aum, par_points=par,
                     first_label=f"{points[0].on:%d %b}" if n else "", last_label=f"{points[-1].on:%d %b}" if n else "",
                     aum_max=format_inr(aum_top if n else Decimal(0)), par_max=f"{par_real}%",
                     description=description, count=n)


__all__ = ["Bar", "BarChart", "LineChart", "bar_chart", "trend_chart"]
